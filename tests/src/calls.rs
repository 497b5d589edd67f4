//! Calls as the tests see them: ringing and answering by role and name, and whether a
//! call's video plays (frames, advancing time) and its sound is heard (a WebAudio
//! analyser the test attaches to the received stream).

use serde_json::json;

use crate::{Browser, ChatPage, eventually};

/// Waits until the sound of the video labelled `label` at `browser` has a level above 0.
pub async fn hears(browser: &Browser, label: &str) -> anyhow::Result<()> {
    let level = eventually(
        &format!("sound from {label} at {}", browser.name),
        || async {
            let level = audio_level(browser, label).await?;
            Ok((level > 0.0).then_some(level))
        },
    )
    .await?;
    println!("sound from {label} at {}: level {level:.4}", browser.name);
    Ok(())
}

/// `caller` rings with `button` ("Call" or "Video call"); the other page accepts.
pub async fn ring_and_answer(
    caller: &ChatPage<'_>,
    callee: &ChatPage<'_>,
    button: &str,
    caller_name: &str,
) -> anyhow::Result<()> {
    wait_enabled(caller, button).await?;
    caller.click("button", button).await?;
    callee
        .by_role("alertdialog", &format!("{caller_name} is calling"))
        .await?;
    callee.click("button", "Accept").await
}

pub async fn wait_enabled(page: &ChatPage<'_>, name: &str) -> anyhow::Result<()> {
    eventually(&format!("{name} enabled"), || async {
        let button = page.by_role("button", name).await?;
        Ok(button.is_enabled().await?.then_some(()))
    })
    .await
}

/// (videoWidth, currentTime) of the `<video>` labelled `label`.
pub async fn video_state(browser: &Browser, label: &str) -> anyhow::Result<(u64, f64)> {
    let ret = browser
        .driver()
        .execute(
            "const v = [...document.querySelectorAll('video')].find(v => v.getAttribute('aria-label') === arguments[0]);
             return v ? [v.videoWidth, v.currentTime] : [0, 0];",
            vec![json!(label)],
        )
        .await?;
    let value = ret.json();
    Ok((
        value[0].as_u64().unwrap_or(0),
        value[1].as_f64().unwrap_or(0.0),
    ))
}

/// Waits until the video labelled `label` has frames and its time advances.
pub async fn playing(browser: &Browser, label: &str) -> anyhow::Result<(u64, f64)> {
    let first = eventually(
        &format!("frames of {label} at {}", browser.name),
        || async {
            let (width, time) = video_state(browser, label).await?;
            Ok((width > 0 && time > 0.0).then_some((width, time)))
        },
    )
    .await?;
    eventually(
        &format!("{label}'s video advancing at {}", browser.name),
        || async {
            let (width, time) = video_state(browser, label).await?;
            Ok((time > first.1 + 0.2).then_some((width, time)))
        },
    )
    .await
}

/// The RMS level of the audio in the stream of the video labelled `label`, measured for
/// 1.5 s by an analyser the test attaches; -1 without an audio track.
///
/// Where no AudioContext runs (Firefox on a machine without a sound device keeps every
/// one suspended), the stream's audio is recorded for 1.5 s instead and the recording
/// decoded by an `OfflineAudioContext`, which needs no device.
pub async fn audio_level(browser: &Browser, label: &str) -> anyhow::Result<f64> {
    let ret = browser
        .driver()
        .execute_async(
            "const [label, done] = arguments;
             const v = [...document.querySelectorAll('video')].find(v => v.getAttribute('aria-label') === label);
             if (!v || !v.srcObject || v.srcObject.getAudioTracks().length === 0) { done(-1); return; }
             const rms = data => { let sum = 0; for (const x of data) sum += x * x; return Math.sqrt(sum / Math.max(1, data.length)); };
             const ctx = new AudioContext();
             if (ctx.state !== 'running') {
               ctx.close();
               const recorder = new MediaRecorder(new MediaStream(v.srcObject.getAudioTracks()));
               const parts = [];
               recorder.ondataavailable = e => parts.push(e.data);
               recorder.onstop = async () => {
                 try {
                   const bytes = await new Blob(parts, { type: recorder.mimeType }).arrayBuffer();
                   const audio = await new OfflineAudioContext(1, 1, 48000).decodeAudioData(bytes);
                   done(rms(audio.getChannelData(0)));
                 } catch (e) { done(-2); }
               };
               recorder.start();
               setTimeout(() => recorder.stop(), 1500);
               return;
             }
             const analyser = ctx.createAnalyser();
             ctx.createMediaStreamSource(v.srcObject).connect(analyser);
             const data = new Float32Array(analyser.fftSize);
             let peak = 0;
             const timer = setInterval(() => {
               analyser.getFloatTimeDomainData(data);
               peak = Math.max(peak, rms(data));
             }, 50);
             setTimeout(() => { clearInterval(timer); ctx.close(); done(peak); }, 1500);",
            vec![json!(label)],
        )
        .await?;
    Ok(ret.json().as_f64().unwrap_or(-1.0))
}
