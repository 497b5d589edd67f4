//! Cameras, microphones and screens: capturing them (`getUserMedia`, `getDisplayMedia`),
//! listing devices, a registry of the streams the page shows (components look them up by
//! key to set a `<video>`'s `srcObject`), and audio level meters for "who is speaking".

use std::cell::RefCell;
use std::collections::HashMap;

use wasm_bindgen::{JsCast as _, JsValue};
use wasm_bindgen_futures::JsFuture;

use super::error::BrowserError;
/// A set of audio and video tracks (a capture, or a peer's media in a call).
pub use web_sys::MediaStream;
use web_sys::{
    AnalyserNode, AudioContext, DisplayMediaStreamConstraints, MediaDeviceInfo, MediaDeviceKind,
    MediaStreamConstraints, MediaStreamTrack,
};

thread_local! {
    static STREAMS: RefCell<HashMap<String, MediaStream>> = RefCell::new(HashMap::new());
    static METERS: RefCell<HashMap<String, (AudioContext, AnalyserNode)>> = RefCell::new(HashMap::new());
}

/// Registers `stream` under `key` (replacing any) so a component can show it.
pub fn register(key: &str, stream: &MediaStream) {
    STREAMS.with(|s| s.borrow_mut().insert(key.to_owned(), stream.clone()));
}

/// The stream registered under `key`.
pub fn stream(key: &str) -> Option<MediaStream> {
    STREAMS.with(|s| s.borrow().get(key).cloned())
}

/// Forgets the stream under `key` and its meter.
pub fn unregister(key: &str) {
    STREAMS.with(|s| s.borrow_mut().remove(key));
    if let Some((context, _)) = METERS.with(|m| m.borrow_mut().remove(key)) {
        let _ = context.close();
    }
}

/// Why a camera, microphone or screen could not be captured; the text is for the user.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CaptureError {
    /// The user or the browser's settings refused it.
    #[error("permission was denied")]
    Denied,
    /// There is no such device (or none matching what was asked).
    #[error("no such device was found")]
    NotFound,
    /// Another program holds the device, or it failed.
    #[error("the device is in use or unavailable")]
    InUse,
    /// Another refusal, as the browser put it.
    #[error("{0}")]
    Failed(BrowserError),
}

impl From<JsValue> for CaptureError {
    fn from(error: JsValue) -> CaptureError {
        let error = BrowserError::from(error);
        match error.name() {
            Some("NotAllowedError" | "SecurityError") => CaptureError::Denied,
            Some("NotFoundError" | "OverconstrainedError") => CaptureError::NotFound,
            Some("NotReadableError") => CaptureError::InUse,
            _ => CaptureError::Failed(error),
        }
    }
}

/// Captures the microphone and, if `video`, the camera (a device id chooses one).
pub async fn capture(
    audio: bool,
    video: bool,
    microphone: Option<&str>,
    camera: Option<&str>,
) -> Result<MediaStream, CaptureError> {
    let devices = media_devices()?;
    let constraints = MediaStreamConstraints::new();
    constraints.set_audio(&device_constraint(audio, microphone));
    constraints.set_video(&device_constraint(video, camera));
    let stream = JsFuture::from(devices.get_user_media_with_constraints(&constraints)?).await?;
    Ok(stream.unchecked_into())
}

/// `navigator.mediaDevices` (missing outside secure contexts).
fn media_devices() -> Result<web_sys::MediaDevices, CaptureError> {
    let window = web_sys::window()
        .ok_or_else(|| CaptureError::Failed(BrowserError::because("no window")))?;
    Ok(window.navigator().media_devices()?)
}

fn device_constraint(wanted: bool, device: Option<&str>) -> JsValue {
    match (wanted, device) {
        (false, _) => JsValue::FALSE,
        (true, None) => JsValue::TRUE,
        (true, Some(id)) => {
            let object = js_sys::Object::new();
            let exact = js_sys::Object::new();
            let _ = js_sys::Reflect::set(&exact, &"exact".into(), &id.into());
            let _ = js_sys::Reflect::set(&object, &"deviceId".into(), &exact);
            object.into()
        }
    }
}

/// Captures a screen, window or tab (the browser asks the user which).
pub async fn capture_screen() -> Result<MediaStream, CaptureError> {
    let devices = media_devices()?;
    let constraints = DisplayMediaStreamConstraints::new();
    constraints.set_video(&JsValue::TRUE);
    let stream = JsFuture::from(devices.get_display_media_with_constraints(&constraints)?).await?;
    Ok(stream.unchecked_into())
}

/// Microphones and cameras: (is a camera, device id, label).
pub async fn devices() -> Vec<(bool, String, String)> {
    let Some(devices) = web_sys::window().and_then(|w| w.navigator().media_devices().ok()) else {
        return Vec::new();
    };
    let Ok(promise) = devices.enumerate_devices() else {
        return Vec::new();
    };
    let Ok(list) = JsFuture::from(promise).await else {
        return Vec::new();
    };
    js_sys::Array::from(&list)
        .iter()
        .filter_map(|info| info.dyn_into::<MediaDeviceInfo>().ok())
        .filter_map(|info| {
            let camera = match info.kind() {
                MediaDeviceKind::Audioinput => false,
                MediaDeviceKind::Videoinput => true,
                _ => return None,
            };
            let label = info.label();
            let label = if label.is_empty() {
                if camera { "Camera" } else { "Microphone" }.to_owned()
            } else {
                label
            };
            Some((camera, info.device_id(), label))
        })
        .collect()
}

/// The stream's tracks of one kind ("audio" or "video").
pub fn tracks(stream: &MediaStream, kind: &str) -> Vec<MediaStreamTrack> {
    stream
        .get_tracks()
        .iter()
        .filter_map(|t| t.dyn_into::<MediaStreamTrack>().ok())
        .filter(|t| t.kind() == kind)
        .collect()
}

/// Puts `track` in `stream` instead of its tracks of `kind` (which stop), enabled or not;
/// returns a new stream object with the same tracks, for a `<video>` to pick up the change.
pub fn swap_track(
    stream: &MediaStream,
    kind: &str,
    track: &MediaStreamTrack,
    enabled: bool,
) -> Option<MediaStream> {
    for old in tracks(stream, kind) {
        stream.remove_track(&old);
        old.stop();
    }
    stream.add_track(track);
    track.set_enabled(enabled);
    MediaStream::new_with_tracks(&stream.get_tracks()).ok()
}

/// Stops every track of `stream` (the camera light goes off).
pub fn stop(stream: &MediaStream) {
    for track in stream.get_tracks().iter() {
        if let Ok(track) = track.dyn_into::<MediaStreamTrack>() {
            track.stop();
        }
    }
}

/// Enables or disables the tracks of one kind (mute, camera off).
pub fn set_enabled(stream: &MediaStream, kind: &str, enabled: bool) {
    for track in tracks(stream, kind) {
        track.set_enabled(enabled);
    }
}

/// The audio level (0..1, RMS) of the stream under `key`, measured with a WebAudio
/// analyser created on first use. `None` without audio.
pub fn level(key: &str) -> Option<f64> {
    let stream = stream(key)?;
    if tracks(&stream, "audio").is_empty() {
        return None;
    }
    METERS.with(|meters| {
        let mut meters = meters.borrow_mut();
        if !meters.contains_key(key) {
            let context = AudioContext::new().ok()?;
            let source = context.create_media_stream_source(&stream).ok()?;
            let analyser = context.create_analyser().ok()?;
            analyser.set_fft_size(512);
            source.connect_with_audio_node(&analyser).ok()?;
            meters.insert(key.to_owned(), (context, analyser));
        }
        let (_, analyser) = meters.get(key)?;
        let mut samples = vec![0f32; 512];
        analyser.get_float_time_domain_data(&mut samples);
        let energy: f32 = samples.iter().map(|s| s * s).sum::<f32>() / samples.len() as f32;
        Some(f64::from(energy.sqrt()))
    })
}
