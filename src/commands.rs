//! The UI's command contract: what components may ask of the driver ([`Command`]) and
//! the handle they send it through ([`Commands`], provided as context). Components import
//! this module, never the driver. Also routes page-level events (`pagehide`, visibility,
//! activity, notification permission, the benchmark harness's events) to commands.

use std::sync::{Arc, Mutex};

use confab_core::{EventId, MemberKey};
use futures::channel::mpsc::{UnboundedReceiver, UnboundedSender, unbounded};

use crate::platform::files::LocalFile;
use crate::platform::page;
use crate::state::Draft;

/// What the UI asks of the driver.
#[derive(Debug)]
pub enum Command {
    /// Send a chat message to the room.
    SendText(String),
    /// Post what the composer holds: a new message, a reply, or an edit.
    Post {
        /// What kind.
        draft: Draft,
        /// The text.
        text: String,
        /// The members it mentions (ignored by an edit).
        mentions: Vec<MemberKey>,
    },
    /// Mute this room's notifications (mentions of us still notify), or unmute them.
    SetMuted(bool),
    /// Add (`on`) or withdraw our reaction.
    React {
        /// The message.
        target: EventId,
        /// The emoji.
        emoji: String,
        /// Add or withdraw.
        on: bool,
    },
    /// Delete one of our messages.
    Delete(EventId),
    /// Change a governed room's disappearing-messages timer: messages said from now on
    /// disappear this many seconds after they were sent (`None`: they stay).
    SetDisappearing(Option<u32>),
    /// "Who can join" in a governed room: an admin approves each newcomer (`true`), or
    /// anyone with the link joins.
    SetApproval(bool),
    /// "New members see" in a governed room: only what is said from when they joined
    /// (`true`), or the whole history.
    SetSinceJoining(bool),
    /// "Leave room", confirmed: tell the others we left this governed room, then forget it
    /// and its history on this device.
    LeaveRoom,
    /// "Remove from my rooms" on a room whose invite link was superseded before we were
    /// let in: forget it on this device (nothing of it was ever ours to read).
    ForgetRoom,
    /// Answer someone asking to join this governed room: "Approve" (`admit`) or "Decline".
    AnswerJoin {
        /// Who asked.
        member: MemberKey,
        /// Let them in.
        admit: bool,
    },
    /// Remove a member from this governed room, then move the room to a new epoch without
    /// them.
    RemoveMember(MemberKey),
    /// Block (`blocked`) or unblock a contact: their messages are hidden in every room, no
    /// one-to-one room with them connects, and they are not told.
    SetBlocked {
        /// Whom.
        member: MemberKey,
        /// Block (`true`) or unblock.
        blocked: bool,
    },
    /// Make a member of this governed room an admin (`admin`), or take it back.
    SetAdmin {
        /// Whom.
        member: MemberKey,
        /// Make (`true`) or unmake.
        admin: bool,
    },
    /// We are typing, or stopped.
    Typing(bool),
    /// Keep what the composer holds and was not sent (empty: forget it).
    SaveDraft(String),
    /// Change our display name.
    SetName(String),
    /// Protect the profile with a passphrase, change it, or (`None`) remove it.
    SetPassphrase(Option<String>),
    /// Download the whole profile as one file encrypted under this passphrase.
    Export(String),
    /// Replace the profile with an exported one (`bytes`, encrypted under `passphrase`),
    /// then reload.
    Import {
        /// The exported file.
        bytes: Vec<u8>,
        /// The export's passphrase.
        passphrase: String,
    },
    /// Offer these files to the room (chosen, dropped or pasted).
    AttachFiles(Vec<LocalFile>),
    /// Download someone's file.
    AcceptFile(EventId),
    /// Refuse someone's file.
    DeclineFile(EventId),
    /// Pause a download.
    PauseFile(EventId),
    /// Resume a paused or failed download.
    ResumeFile(EventId),
    /// Our file: stop offering it. Someone's: stop downloading and delete it.
    CancelFile(EventId),
    /// Save a received file as a download.
    SaveFile(EventId),
    /// Call everyone in the room we can reach directly (`video`: with the camera).
    StartCall {
        /// With video.
        video: bool,
    },
    /// Answer the ringing call.
    AcceptCall,
    /// Refuse the ringing call.
    DeclineCall,
    /// Leave our call.
    HangUp,
    /// Mute or unmute our microphone.
    ToggleMute,
    /// Turn our camera off or on.
    ToggleCamera,
    /// Notifications were just allowed: subscribe this browser to push for this room.
    TurnOnPush,
    /// Start (`true`) or stop sharing our screen.
    ShareScreen(bool),
    /// Use this microphone (`camera: false`) or camera in the call.
    ChooseDevice {
        /// A camera, not a microphone.
        camera: bool,
        /// Its device id.
        id: String,
    },
    /// The page was shown or hidden.
    Visible(bool),
    /// The user did something (key, pointer): not idle.
    Activity,
    /// The page is going away: say goodbye to every peer.
    Leave,
    /// "Reset invite link": move the governed room to a new epoch (owners and admins).
    ResetLink,
    /// Benchmark: `rounds` sequential encrypted pings to the first verified peer.
    Bench {
        /// Round trips to measure.
        rounds: u32,
    },
    /// Benchmark: post `messages` short messages at once (history and catch-up benches).
    /// Only in benchmark builds (feature `bench-hooks`).
    #[cfg(feature = "bench-hooks")]
    BenchFill {
        /// How many.
        messages: u32,
    },
    /// Benchmark: seal and open `iterations` frames of `size` bytes in this wasm module.
    BenchCrypto {
        /// Plaintext bytes per frame.
        size: usize,
        /// Frames.
        iterations: u32,
    },
}

/// Handle the UI uses to reach the driver (provided as context).
#[derive(Clone)]
pub struct Commands {
    inbox: UnboundedSender<Command>,
    /// The receiving end, until a driver takes it. Commands sent before the driver starts
    /// (while the profile opens) wait in the channel.
    queued: Arc<Mutex<Option<UnboundedReceiver<Command>>>>,
}

impl Commands {
    /// A handle whose commands wait for the driver that [`Commands::take_queue`] hands
    /// them to.
    pub fn new() -> Commands {
        let (inbox, queued) = unbounded();
        Commands {
            inbox,
            queued: Arc::new(Mutex::new(Some(queued))),
        }
    }

    /// A handle with no driver behind it, for component tests.
    #[doc(hidden)]
    pub fn detached_for_testing_only() -> Commands {
        Commands::new()
    }

    /// The commands queued so far and not taken by a driver (a component test's view of
    /// what the UI asked for), in order.
    #[doc(hidden)]
    pub fn sent_for_testing_only(&self) -> Vec<Command> {
        let mut sent = Vec::new();
        if let Ok(mut queued) = self.queued.lock()
            && let Some(queued) = queued.as_mut()
        {
            while let Ok(command) = queued.try_recv() {
                sent.push(command);
            }
        }
        sent
    }

    /// Queues a command; the driver handles it in order.
    pub fn send(&self, command: Command) {
        let _ = self.inbox.unbounded_send(command);
    }

    /// The queue of commands, for the one driver that handles them (`None`: a driver
    /// already took it).
    pub(crate) fn take_queue(&self) -> Option<UnboundedReceiver<Command>> {
        self.queued.lock().ok().and_then(|mut queued| queued.take())
    }
}

impl Default for Commands {
    fn default() -> Commands {
        Commands::new()
    }
}

/// Routes page-level events to the driver: `pagehide` says goodbye, and (in benchmark
/// builds only, feature `bench-hooks`) the benchmark harness's `confab-bench`
/// (`[rounds]`), `confab-bench-crypto` (`[size, iterations]`) and `confab-bench-fill`
/// (`[messages]`) events start measurements.
pub fn listen_to_page(commands: &Commands) {
    follow_page(commands);
    // Another room's link: start over in that room (the boot sequence picks it up).
    page::on_hash_change(page::reload);
    // Back from the back/forward cache: every room's connection was closed on `pagehide`;
    // start over.
    page::on_page_restored(page::reload);
    #[cfg(feature = "bench-hooks")]
    listen_to_bench(commands);
}

/// What every room's driver needs from the page, the shown room's or a background one's:
/// goodbye on `pagehide`, presence from visibility and activity, push once notifications
/// are allowed.
pub fn follow_page(commands: &Commands) {
    let leave = commands.clone();
    page::on_page_hide(move || leave.send(Command::Leave));
    let visibility = commands.clone();
    page::on_visibility_change(move |visible| visibility.send(Command::Visible(visible)));
    let activity = commands.clone();
    page::on_activity(move || activity.send(Command::Activity));
    let push = commands.clone();
    crate::platform::pwa::on_notifications_allowed(move || push.send(Command::TurnOnPush));
}

/// The benchmark harness's events, for the room on screen only. Any script of the page's
/// origin can dispatch them (one posts up to 100,000 signed messages), so release builds
/// leave them out: `cargo xtask build` checks that its output does not name them.
#[cfg(feature = "bench-hooks")]
fn listen_to_bench(commands: &Commands) {
    /// The `idx`-th number of an event's detail, or `default`, kept within `range`.
    fn arg(detail: &[f64], idx: usize, default: f64, range: (f64, f64)) -> f64 {
        detail
            .get(idx)
            .copied()
            .unwrap_or(default)
            .clamp(range.0, range.1)
    }
    let bench = commands.clone();
    page::on_bench_request("confab-bench", move |detail| {
        let rounds = arg(&detail, 0, 100.0, (1.0, 100_000.0)) as u32;
        bench.send(Command::Bench { rounds });
    });
    let crypto = commands.clone();
    page::on_bench_request("confab-bench-crypto", move |detail| {
        let max_size = confab_core::session::MAX_PLAINTEXT_LEN as f64;
        let size = arg(&detail, 0, 1024.0, (0.0, max_size)) as usize;
        let iterations = arg(&detail, 1, 1000.0, (1.0, 1e6)) as u32;
        crypto.send(Command::BenchCrypto { size, iterations });
    });
    let fill = commands.clone();
    page::on_bench_request("confab-bench-fill", move |detail| {
        let messages = arg(&detail, 0, 1000.0, (1.0, 100_000.0)) as u32;
        fill.send(Command::BenchFill { messages });
    });
}
