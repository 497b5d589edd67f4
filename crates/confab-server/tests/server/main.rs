//! Public-API suite: real WebSocket and HTTP clients against an in-process server on
//! 127.0.0.1:0. Every wait is bounded by `harness::WAIT`.

mod harness;

mod http;
mod limits;
mod relay;
mod shutdown;
mod signalling;
