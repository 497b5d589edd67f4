//! Calls between real browsers with Chromium's fake camera and microphone (a test pattern
//! and a tone): Alice video-calls Bob; Bob accepts; each side's video of the other shows
//! frames (`videoWidth > 0`, `currentTime` advancing) and its audio has a non-zero level
//! (a WebAudio analyser on the received stream). Alice shares her screen (Chromium's fake
//! 1280×720 screen) and Bob's video of her switches to it; she mutes, and Bob sees it;
//! then she hangs up. The SDP of all this travels inside the Noise session.

use confab_e2e::calls::{hears, playing, ring_and_answer, video_state, wait_enabled};
use confab_e2e::{Browser, Pair, eventually};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_video_call_carries_both_ways_and_shares_a_screen() -> anyhow::Result<()> {
    let pair = Pair::start(false).await?;
    let outcome = scenario(&pair).await;
    if outcome.is_err() {
        for browser in [&pair.alice, &pair.bob] {
            let tracks = browser
                .driver()
                .execute(
                    "return [...document.querySelectorAll('video')].map(v => v.getAttribute('aria-label') + ' ' + (v.srcObject ? v.srcObject.getTracks().map(t => t.kind + ':' + t.readyState + ':' + t.muted + ':' + t.enabled).join(',') : 'none'))",
                    vec![],
                )
                .await
                .map(|r| r.json().to_string())
                .unwrap_or_default();
            eprintln!("{} videos: {tracks}", browser.name);
            for line in browser.console_all().await.unwrap_or_default() {
                eprintln!("{}: {line}", browser.name);
            }
        }
    }
    pair.finish("call", outcome).await
}

async fn scenario(pair: &Pair) -> anyhow::Result<()> {
    let (alice, bob) = (&pair.alice, &pair.bob);
    let (a, b) = pair.meet("").await?;
    let (alice_name, bob_name) = (a.display_name().await?, b.display_name().await?);

    wait_enabled(&a, "Video call").await?;
    a.click("button", "Video call").await?;
    b.by_role("alertdialog", &format!("{alice_name} is calling"))
        .await?;
    bob.screenshot(&pair.env, "call-ringing-bob.png").await?;
    b.click("button", "Accept").await?;

    // Each sees and hears the other.
    let at_alice = playing(alice, &bob_name).await?;
    let at_bob = playing(bob, &alice_name).await?;
    anyhow::ensure!(
        at_alice.0 > 0 && at_bob.0 > 0,
        "no frames: {at_alice:?} {at_bob:?}"
    );
    for (browser, label) in [(alice, &bob_name), (bob, &alice_name)] {
        hears(browser, label).await?;
    }
    // The timer runs.
    eventually("the call timer", || async {
        let text = text_of(alice, ".call-status").await?;
        Ok((text.len() == 5 && text.contains(':')).then_some(()))
    })
    .await?;
    alice.screenshot(&pair.env, "call-live-alice.png").await?;
    bob.screenshot(&pair.env, "call-live-bob.png").await?;

    // Screen sharing: Bob's video of Alice becomes her (fake, 16:9) screen instead of
    // her (fake, 4:3) camera; the resolution itself follows the bandwidth estimate.
    a.click("button", "Share screen").await?;
    eventually("Alice's screen at Bob", || async {
        let ret = bob
            .driver()
            .execute(
                "const v = [...document.querySelectorAll('video')].find(v => v.getAttribute('aria-label') === arguments[0]);
                 return v && v.videoHeight ? v.videoWidth / v.videoHeight : 0;",
                vec![json!(alice_name)],
            )
            .await?;
        Ok((ret.json().as_f64().unwrap_or(0.0) > 1.6).then_some(()))
    })
    .await?;
    a.by_role("button", "Stop sharing").await?;
    bob.screenshot(&pair.env, "call-screen-bob.png").await?;

    // Another microphone: Bob still hears Alice.
    a.by_role("combobox", "Microphone").await?;
    alice
        .driver()
        .execute(
            "const s = document.querySelector('select[aria-label=Microphone]');
             s.selectedIndex = s.options.length - 1;
             s.dispatchEvent(new Event('change', { bubbles: true }));",
            vec![],
        )
        .await?;
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    hears(bob, &alice_name).await?;

    // Mute shows at Bob; hanging up ends it for both.
    a.click("button", "Mute microphone").await?;
    eventually("Alice muted at Bob", || async {
        Ok(b.list_items_in("Call")
            .await?
            .iter()
            .any(|t| t.contains("muted"))
            .then_some(()))
    })
    .await?;
    a.click("button", "Hang up").await?;
    a.by_role("button", "Video call").await?;
    alice.assert_no_console_errors().await?;
    bob.assert_no_console_errors().await
}

/// Bob's browser blocks his camera: he answers a video call with sound only and says so,
/// while Alice still hears him and he still sees and hears her. Then it blocks his
/// microphone too: he answers with nothing, and still sees and hears her.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_goes_on_with_what_the_browser_allows() -> anyhow::Result<()> {
    let pair = Pair::start(false).await?;
    let outcome = blocked_devices(&pair).await;
    pair.finish("call-blocked", outcome).await
}

async fn blocked_devices(pair: &Pair) -> anyhow::Result<()> {
    let (alice, bob) = (&pair.alice, &pair.bob);
    let (a, b) = pair.meet("").await?;
    let (alice_name, bob_name) = (a.display_name().await?, b.display_name().await?);
    // Headless Chromium with its fake media UI grants every request, even after
    // DevTools' `Browser.setPermission` set "denied" (tried: the camera still opened). So
    // Bob's page refuses the blocked devices itself, with the very error Chromium gives
    // for a device the user blocked: DOMException NotAllowedError "Permission denied".
    let block = |kinds: &'static str| {
        bob.driver().execute(
            "const blocked = arguments[0].split(',');
             const devices = navigator.mediaDevices;
             devices.realGetUserMedia ??= devices.getUserMedia.bind(devices);
             devices.getUserMedia = (c) => blocked.some(kind => c && c[kind])
               ? Promise.reject(new DOMException('Permission denied', 'NotAllowedError'))
               : devices.realGetUserMedia(c);",
            vec![json!(kinds)],
        )
    };
    block("video").await?;

    ring_and_answer(&a, &b, "Video call", &alice_name).await?;
    wait_note(bob, "audio only").await?;
    // He sees and hears Alice; she hears him, and gets no video from him.
    playing(bob, &alice_name).await?;
    for (browser, label) in [(alice, &bob_name), (bob, &alice_name)] {
        hears(browser, label).await?;
    }
    anyhow::ensure!(
        video_state(alice, &bob_name).await?.0 == 0,
        "Alice got video from Bob, whose camera is blocked"
    );
    bob.screenshot(&pair.env, "call-camera-blocked-bob.png")
        .await?;
    a.click("button", "Hang up").await?;
    b.by_role("button", "Call").await?;

    // Now the microphone too: Bob answers a voice call with nothing and still hears Alice.
    block("video,audio").await?;
    ring_and_answer(&a, &b, "Call", &alice_name).await?;
    wait_note(bob, "they cannot hear you").await?;
    hears(bob, &alice_name).await?;
    bob.screenshot(&pair.env, "call-all-blocked-bob.png")
        .await?;
    b.click("button", "Hang up").await?;
    alice.assert_no_console_errors().await?;
    bob.assert_no_console_errors().await
}

/// Waits until the call's note (what the browser did not allow) contains `part`.
async fn wait_note(browser: &Browser, part: &str) -> anyhow::Result<()> {
    eventually(&format!("a call note saying {part:?}"), || async {
        Ok(text_of(browser, ".call-note")
            .await?
            .contains(part)
            .then_some(()))
    })
    .await
}

/// The text of the first element matching `selector` ("" if none).
async fn text_of(browser: &Browser, selector: &str) -> anyhow::Result<String> {
    let ret = browser
        .driver()
        .execute(
            "return document.querySelector(arguments[0])?.textContent ?? ''",
            vec![json!(selector)],
        )
        .await?;
    Ok(ret.json().as_str().unwrap_or_default().to_owned())
}

/// Three people in one room call (a mesh): Alice calls, Bob and Carol accept, and each
/// sees and hears the two others.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_people_share_one_room_call() -> anyhow::Result<()> {
    let pair = Pair::start(false).await?;
    let carol = Browser::open(&pair.chromedriver, &pair.env, "carol").await?;
    let outcome = room_call(&pair, &carol).await;
    carol
        .screenshot(&pair.env, "call-room-carol.png")
        .await
        .ok();
    carol.quit().await.ok();
    pair.finish("call-room", outcome).await
}

async fn room_call(pair: &Pair, carol: &Browser) -> anyhow::Result<()> {
    let (alice, bob) = (&pair.alice, &pair.bob);
    let a = alice.open_chat(&format!("{}/", pair.server.url)).await?;
    let invite = a.invite_link().await?;
    let b = bob.open_chat(&invite).await?;
    let c = carol.open_chat(&invite).await?;
    for page in [&a, &b, &c] {
        page.wait_online(2).await?;
    }
    let names = [
        a.display_name().await?,
        b.display_name().await?,
        c.display_name().await?,
    ];
    wait_enabled(&a, "Video call").await?;
    a.click("button", "Video call").await?;
    for page in [&b, &c] {
        page.by_role("alertdialog", &format!("{} is calling", names[0]))
            .await?;
        page.click("button", "Accept").await?;
    }
    let browsers = [alice, bob, carol];
    for (me, browser) in browsers.iter().enumerate() {
        for (other, name) in names.iter().enumerate() {
            if other != me {
                playing(browser, name).await?;
            }
        }
    }
    for (me, browser) in browsers.iter().enumerate() {
        for (other, name) in names.iter().enumerate() {
            if other != me {
                hears(browser, name).await?;
            }
        }
    }
    alice
        .screenshot(&pair.env, "call-room-live-alice.png")
        .await?;
    // Alice leaves: Bob and Carol go on. Bob leaves too: Carol, alone, is out of the call.
    for page in [&a, &b] {
        page.click("button", "Hang up").await?;
    }
    c.by_role("button", "Video call").await?;
    anyhow::ensure!(
        !c.has_role("button", "Hang up").await?,
        "Carol is still in a call with nobody"
    );
    Ok(())
}
