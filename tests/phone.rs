//! Confab on a phone (Chromium posing as one: 390×844, device scale 3, touch) beside a
//! desktop. On the phone the conversation fills the screen and the panels are behind
//! "Menu" (tapped with a finger); focus moves into them and back; a call that rings
//! while they are open shows below them; an on-screen keyboard that covers the page (as
//! iOS Safari's does) leaves the composer and the newest message above it, and the
//! composer keeps clear of the home indicator (34 px of safe area) only while no keyboard
//! covers it. On the start page, with the menu open, in a room, while a call rings, with a
//! file offered, on its side (844×390) and in a video call on its side: nothing scrolls
//! sideways, every control is reachable with Tab and by a finger (at least 44 px each way,
//! nothing on top of it). As a tablet (820×1180) the panels sit beside the conversation
//! again. Firefox posing as a phone passes the same checks. Screenshots of each (a room,
//! the menu and a ringing call in the dark theme too) go to target/e2e/phone/phone-*.png.

use confab_e2e::calls::playing;
use confab_e2e::{Browser, ChatPage, Chromedriver, Env, Pair, Server, eventually, exchange};
use thirtyfour::prelude::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_phone_chats_with_a_desktop_and_everything_fits() -> anyhow::Result<()> {
    phone_with_desktop(false, "phone").await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_phone_in_firefox_chats_with_a_desktop_and_everything_fits() -> anyhow::Result<()> {
    phone_with_desktop(true, "phone-firefox").await
}

/// Alice on a phone (Chromium's, or Firefox's) and Bob at a desktop run [`scenario`];
/// screenshots and profiles are named after `prefix`.
async fn phone_with_desktop(firefox: bool, prefix: &str) -> anyhow::Result<()> {
    let env = Env::from_env()?;
    let server = Server::start(&env, false).await?;
    let chromedriver = Chromedriver::start(&env).await?;
    let alice = if firefox {
        Browser::open_firefox_phone(&env, prefix).await?
    } else {
        Browser::open_phone(&chromedriver, &env, prefix).await?
    };
    let bob = Browser::open(&chromedriver, &env, "desktop").await?;
    let pair = Pair {
        env,
        server,
        chromedriver,
        alice,
        bob,
    };
    let outcome = scenario(&pair, prefix).await;
    pair.finish(&format!("{prefix}-end"), outcome).await
}

/// The phone's side of the scenario; screenshots are named `<prefix>-*.png`.
async fn scenario(pair: &Pair, prefix: &str) -> anyhow::Result<()> {
    let (phone, env) = (&pair.alice, &pair.env);
    if !phone.is_firefox() {
        // A home indicator: 34 px of safe area at the bottom (DevTools; Firefox has none).
        phone
            .cdp(
                "Emulation.setSafeAreaInsetsOverride",
                serde_json::json!({ "insets": { "bottom": 34, "bottomMax": 34 } }),
            )
            .await?;
    }
    let a = phone.open_chat(&format!("{}/", pair.server.url)).await?;
    let pose = phone
        .driver()
        .execute(
            "return [innerWidth, innerHeight, devicePixelRatio, navigator.maxTouchPoints > 0 && 'ontouchstart' in window];",
            vec![],
        )
        .await?;
    println!(
        "{prefix}: [width, height, pixel ratio, touch] {}",
        pose.json()
    );
    anyhow::ensure!(
        pose.json()[0] == 390 && pose.json()[2] == 3 && pose.json()[3] == true,
        "not posing as a phone: {}",
        pose.json()
    );

    // The start page: the conversation, the panels behind "Menu".
    let menu = a.by_role("button", "Menu").await?;
    anyhow::ensure!(menu.is_displayed().await?, "no Menu button on the phone");
    anyhow::ensure!(
        a.by_role("region", "Conversation")
            .await?
            .is_displayed()
            .await?,
        "the conversation is hidden on the start page"
    );
    anyhow::ensure!(
        !panels_shown(phone).await?,
        "the panels are shown beside the conversation on a phone"
    );
    everything_fits(
        &a,
        env,
        "the start page",
        Some(&format!("{prefix}-start.png")),
    )
    .await?;

    // The menu (tapped with a finger): focus moves in, everything fits, Escape leads
    // back to "Menu".
    a.tap("button", "Menu").await?;
    focused_is(&a, "button", "Close").await?;
    anyhow::ensure!(panels_shown(phone).await?, "Menu did not open the panels");
    let invite = a.invite_link().await?;
    screenshot_dark(phone, env, &format!("{prefix}-menu-dark.png")).await?;
    everything_fits(&a, env, "the menu", Some(&format!("{prefix}-menu.png"))).await?;
    controls_apart(phone, ".room-settings").await?;
    phone
        .driver()
        .action_chain()
        .send_keys(Key::Escape)
        .perform()
        .await?;
    focused_is(&a, "button", "Menu").await?;
    anyhow::ensure!(!panels_shown(phone).await?, "Escape left the menu open");

    // A room with the desktop: the usual exchange, Alice's second message by a tap on
    // "Send" and her third by Tab to it.
    let b = pair.bob.open_chat(&invite).await?;
    b.wait_for_member("the phone online", |m| m.is_online())
        .await?;
    let send = a.by_role("button", "Send").await?;
    anyhow::ensure!(send.is_displayed().await?, "no Send button on the phone");
    exchange(&a, &b).await?;
    a.type_draft("and one by a tap").await?;
    a.tap("button", "Send").await?;
    eventually("the tapped message at the desktop", || async {
        Ok(
            (b.messages().await?.last().map(String::as_str) == Some("and one by a tap"))
                .then_some(()),
        )
    })
    .await?;
    screenshot_dark(phone, env, &format!("{prefix}-room-dark.png")).await?;
    everything_fits(&a, env, "a room", Some(&format!("{prefix}-room.png"))).await?;

    // An on-screen keyboard that covers the page (iOS Safari's: only the visual viewport
    // gets shorter): the message box, "Send" and the newest message stay above it.
    // The composer keeps clear of the home indicator, but not above the keyboard, which
    // covers it.
    let home_indicator = !phone.is_firefox();
    if home_indicator {
        composer_padding_is(phone, 34.0).await?;
    }
    a.by_role("textbox", "Message").await?.focus().await?;
    keyboard(phone, Some(336.0)).await?;
    eventually("the composer above the keyboard", || async {
        Ok(above_keyboard(&a).await?.then_some(()))
    })
    .await?;
    if home_indicator {
        composer_padding_is(phone, 7.5).await?;
    }
    phone
        .screenshot(env, &format!("{prefix}-keyboard.png"))
        .await?;
    keyboard(phone, None).await?;
    eventually("the keyboard gone", || async {
        let inset = phone
            .driver()
            .execute(
                "return document.documentElement.style.getPropertyValue('--keyboard-inset');",
                vec![],
            )
            .await?;
        Ok((inset.json().as_str() == Some("0px")).then_some(()))
    })
    .await?;
    if home_indicator {
        composer_padding_is(phone, 34.0).await?;
    }

    // An incoming call.
    let desktop_name = b.display_name().await?;
    video_call_enabled(&b).await?;
    b.click("button", "Video call").await?;
    a.by_role("alertdialog", &format!("{desktop_name} is calling"))
        .await?;
    screenshot_dark(phone, env, &format!("{prefix}-call-dark.png")).await?;
    everything_fits(
        &a,
        env,
        "a ringing call",
        Some(&format!("{prefix}-call.png")),
    )
    .await?;
    a.tap("button", "Decline").await?;

    // A call that rings while the menu is open shows below the panels, to be answered.
    a.tap("button", "Menu").await?;
    focused_is(&a, "button", "Close").await?;
    video_call_enabled(&b).await?;
    b.click("button", "Video call").await?;
    let ringing = a
        .by_role("alertdialog", &format!("{desktop_name} is calling"))
        .await?;
    anyhow::ensure!(
        ringing.is_displayed().await?,
        "a call rang unseen behind the open menu"
    );
    everything_fits(
        &a,
        env,
        "a ringing call with the menu open",
        Some(&format!("{prefix}-call-menu.png")),
    )
    .await?;
    a.tap("button", "Decline").await?;
    a.tap("button", "Close").await?;
    focused_is(&a, "button", "Menu").await?;

    // A file offered to the phone.
    let file = env.out.join("phone-notes.txt");
    std::fs::write(&file, "notes for the phone\n".repeat(40))?;
    b.attach_file(&file).await?;
    a.by_role("group", "File phone-notes.txt").await?;
    everything_fits(
        &a,
        env,
        "a file offered",
        Some(&format!("{prefix}-file.png")),
    )
    .await?;

    // On its side: still no sideways scrolling, and the message box and "Send" in view.
    phone.turn_phone(true).await?;
    eventually("the landscape viewport", || async {
        let width = phone.driver().execute("return innerWidth;", vec![]).await?;
        Ok((width.json().as_f64() == Some(844.0)).then_some(()))
    })
    .await?;
    // The newest message stays in view as the list gets shorter (as when the on-screen
    // keyboard opens).
    eventually("the newest message in view in landscape", || async {
        let at_end = phone
            .driver()
            .execute(
                "const list = document.querySelector('ul.messages');
                 return list.scrollTop + list.clientHeight >= list.scrollHeight - 8;",
                vec![],
            )
            .await?;
        Ok((at_end.json().as_bool() == Some(true)).then_some(()))
    })
    .await?;
    for (role, name) in [("textbox", "Message"), ("button", "Send")] {
        let element = a.by_role(role, name).await?;
        let rect = phone
            .driver()
            .execute(
                "const r = arguments[0].getBoundingClientRect(); return r.bottom <= innerHeight && r.top >= 0 && r.right <= innerWidth;",
                vec![element.to_json()?],
            )
            .await?;
        anyhow::ensure!(
            rect.json().as_bool() == Some(true),
            "{role} {name:?} is out of view in landscape"
        );
    }
    everything_fits(
        &a,
        env,
        "landscape",
        Some(&format!("{prefix}-landscape.png")),
    )
    .await?;
    a.tap("button", "Menu").await?;
    focused_is(&a, "button", "Close").await?;
    everything_fits(
        &a,
        env,
        "the menu in landscape",
        Some(&format!("{prefix}-menu-landscape.png")),
    )
    .await?;
    a.tap("button", "Close").await?;
    focused_is(&a, "button", "Menu").await?;

    // A video call on its side: the videos take the height beside the conversation, the
    // controls in a column within reach.
    video_call_enabled(&b).await?;
    b.click("button", "Video call").await?;
    a.by_role("alertdialog", &format!("{desktop_name} is calling"))
        .await?;
    a.tap("button", "Accept").await?;
    playing(phone, &desktop_name).await?;
    let tiles = phone
        .driver()
        .execute(
            "const r = document.querySelector('.call .tiles').getBoundingClientRect();
             return { height: r.height, bottom: r.bottom, shown: innerHeight };",
            vec![],
        )
        .await?;
    let tiles = tiles.json();
    let (height, shown) = (
        tiles["height"].as_f64().unwrap_or(0.0),
        tiles["shown"].as_f64().unwrap_or(f64::MAX),
    );
    anyhow::ensure!(
        height >= shown * 0.6 && tiles["bottom"].as_f64().unwrap_or(f64::MAX) <= shown,
        "in landscape the call's videos are {height} px high of {shown}: {tiles}"
    );
    everything_fits(
        &a,
        env,
        "a call in landscape",
        Some(&format!("{prefix}-call-landscape.png")),
    )
    .await?;
    a.tap("button", "Hang up").await?;
    b.by_role("button", "Video call").await?;
    a.by_role("button", "Video call").await?;

    // A tablet (820×1180): the panels beside the conversation, no "Menu".
    phone.set_screen(820, 1180, 2.0).await?;
    eventually("the tablet viewport", || async {
        let width = phone.driver().execute("return innerWidth;", vec![]).await?;
        Ok((width.json().as_f64() == Some(820.0)).then_some(()))
    })
    .await?;
    anyhow::ensure!(
        panels_shown(phone).await?,
        "no panels beside the conversation on a tablet"
    );
    anyhow::ensure!(
        !a.has_role("button", "Menu").await?,
        "Menu shown on a tablet"
    );
    let fits = phone
        .driver()
        .execute(
            "const root = document.documentElement; return root.scrollWidth <= root.clientWidth;",
            vec![],
        )
        .await?;
    anyhow::ensure!(
        fits.json().as_bool() == Some(true),
        "the tablet scrolls sideways"
    );
    phone
        .screenshot(env, &format!("{prefix}-tablet.png"))
        .await?;

    phone.assert_no_console_errors().await?;
    pair.bob.assert_no_console_errors().await
}

/// Saves `file` as the page looks in the dark theme (`prefers-color-scheme: dark`), then
/// goes back to light.
async fn screenshot_dark(phone: &Browser, env: &Env, file: &str) -> anyhow::Result<()> {
    if phone.is_firefox() {
        // Its colour scheme is a pref read at start; the dark theme is looked at in Chromium.
        return Ok(());
    }
    phone.set_dark(true).await?;
    let saved = phone.screenshot(env, file).await;
    phone.set_dark(false).await?;
    saved.map(|_| ())
}

/// Stands in for an on-screen keyboard `cover` CSS px high that covers the page, as iOS
/// Safari's does (headless Chromium has none): the visual viewport gets that much shorter
/// (an own `height` on `visualViewport` shadows the real one) and fires `resize`, which is
/// all the page hears of it. `None` closes it.
async fn keyboard(phone: &Browser, cover: Option<f64>) -> anyhow::Result<()> {
    phone
        .driver()
        .execute(
            "const [cover] = arguments, vv = visualViewport;
             if (cover === null) delete vv.height;
             else Object.defineProperty(vv, 'height', {
               value: document.documentElement.clientHeight - cover, configurable: true });
             vv.dispatchEvent(new Event('resize'));",
            vec![serde_json::json!(cover)],
        )
        .await?;
    Ok(())
}

/// Waits until the composer's bottom padding is `padding` CSS px (.5rem is 7.5 px).
async fn composer_padding_is(phone: &Browser, padding: f64) -> anyhow::Result<()> {
    eventually(&format!("the composer's bottom padding {padding} px"), || async {
        let now = phone
            .driver()
            .execute(
                "return parseFloat(getComputedStyle(document.querySelector('form.composer')).paddingBottom);",
                vec![],
            )
            .await?;
        Ok(now
            .json()
            .as_f64()
            .filter(|now| (now - padding).abs() < 0.1)
            .map(|_| ()))
    })
    .await
}

/// Whether the message box, "Send" and the newest message are inside the visual viewport,
/// and the list is scrolled to its end.
async fn above_keyboard(page: &ChatPage<'_>) -> anyhow::Result<bool> {
    let (textbox, send) = (
        page.by_role("textbox", "Message").await?,
        page.by_role("button", "Send").await?,
    );
    let inside = page
        .browser()
        .driver()
        .execute(
            "const vv = visualViewport, top = vv.offsetTop, bottom = vv.offsetTop + vv.height;
             const list = document.querySelector('ul.messages');
             const newest = list.lastElementChild;
             return [arguments[0], arguments[1], newest].every(el => {
                 const r = el.getBoundingClientRect();
                 return r.top >= top && r.bottom <= bottom + 0.5;
               })
               && list.scrollTop + list.clientHeight >= list.scrollHeight - 8;",
            vec![textbox.to_json()?, send.to_json()?],
        )
        .await?;
    Ok(inside.json().as_bool() == Some(true))
}

/// Waits until "Video call" can be pressed (someone online on a direct path, no call).
async fn video_call_enabled(page: &ChatPage<'_>) -> anyhow::Result<()> {
    eventually("Video call enabled", || async {
        let button = page.by_role("button", "Video call").await?;
        Ok(button.is_enabled().await?.then_some(()))
    })
    .await
}

/// Whether the side panels (the invite among them) are shown.
async fn panels_shown(phone: &Browser) -> anyhow::Result<bool> {
    let shown = phone
        .driver()
        .execute(
            "const p = document.getElementById('panels'); return !!p && p.getClientRects().length > 0;",
            vec![],
        )
        .await?;
    Ok(shown.json().as_bool() == Some(true))
}

/// The controls in `panel` (each with the label that holds it: a finger may tap anywhere
/// on that) stand apart: no two touch or overlap, so a finger meant for one does not land
/// on the next. (The room's settings stood one on another: each setting's name touched the
/// select above it.)
async fn controls_apart(phone: &Browser, panel: &str) -> anyhow::Result<()> {
    let touching = phone
        .driver()
        .execute(
            r#"const panel = document.querySelector(arguments[0]);
               if (!panel) return null;
               const targets = [...panel.querySelectorAll('button, select, input, a[href]')]
                 .filter(el => el.getClientRects().length > 0)
                 .map(el => {
                   const label = el.closest('label');
                   const target = label && label.control === el ? label : el;
                   const name = el.getAttribute('aria-label') || el.textContent.trim().slice(0, 40);
                   return [name, target, target.getBoundingClientRect()];
                 });
               const touching = [];
               for (let i = 0; i < targets.length; i++) {
                 for (let j = i + 1; j < targets.length; j++) {
                   const [a, ta, ra] = targets[i], [b, tb, rb] = targets[j];
                   if (ta.contains(tb) || tb.contains(ta)) continue;
                   const apart = ra.right < rb.left || rb.right < ra.left
                     || ra.bottom < rb.top || rb.bottom < ra.top;
                   if (!apart) touching.push(`${a} / ${b}`);
                 }
               }
               return touching;"#,
            vec![serde_json::json!(panel)],
        )
        .await?;
    let touching = touching.json();
    anyhow::ensure!(!touching.is_null(), "no {panel} shown");
    anyhow::ensure!(
        touching.as_array().is_some_and(Vec::is_empty),
        "{panel}: controls touching: {touching}"
    );
    Ok(())
}

/// Waits until the focused element has this role and name.
async fn focused_is(page: &ChatPage<'_>, role: &str, name: &str) -> anyhow::Result<()> {
    let want = (role.to_owned(), name.to_owned());
    eventually(&format!("focus on {role} {name:?}"), || async {
        Ok((page.focused().await? == want).then_some(()))
    })
    .await
}

/// Every control shown now, as `[description, width, height]` (of the label that holds it,
/// if one does: a finger may tap anywhere on that) (and how many), which of them
/// a finger cannot reach (scrolled into view, something else is on top of its centre; a
/// label that holds it is not something else), and whether the page scrolls sideways (with
/// what sticks out).
const LAYOUT_SCRIPT: &str = r#"
    const shown = el => {
      const r = el.getBoundingClientRect();
      return r.width > 0 && r.height > 0 && getComputedStyle(el).visibility !== 'hidden';
    };
    const controls = [...document.querySelectorAll('a[href], button, input, select, textarea, summary, [tabindex]')]
      .filter(el => !el.disabled && el.getAttribute('tabindex') !== '-1'
        && !el.closest('[aria-hidden=true], [inert]') && shown(el));
    const describe = el => `${el.tagName.toLowerCase()} ${JSON.stringify(el.getAttribute('aria-label') || el.textContent.trim().slice(0, 40))}`;
    const root = document.documentElement;
    const wide = [...document.querySelectorAll('body *')]
      .filter(el => shown(el) && el.getBoundingClientRect().right > root.clientWidth + 0.5)
      .slice(0, 10).map(describe);
    window.__confabControls = controls;
    const covered = controls.filter(el => {
      el.scrollIntoView({ block: 'nearest', inline: 'nearest' });
      const r = el.getBoundingClientRect();
      const hit = document.elementFromPoint(r.left + r.width / 2, r.top + r.height / 2);
      return !hit || !(hit === el || el.contains(hit) || (hit.closest('label') && hit.closest('label').control === el));
    }).map(describe);
    return {
      covered,
      scrollWidth: root.scrollWidth, clientWidth: root.clientWidth, wide, count: controls.length,
      // A link in a message's text is inline, like one in a sentence: exempt from size.
      // A control inside its label is tapped anywhere on the label.
      controls: controls.filter(el => !el.closest('.message .text'))
        .map(el => {
          const label = el.closest('label'), target = label && label.control === el ? label : el;
          const r = target.getBoundingClientRect();
          return [describe(el), r.width, r.height];
        }),
    };
"#;

/// Saves `screenshot` (if named) as shown, then checks: no sideways scrolling; every
/// control shown is at least 44×44 px, has nothing on top of it where a finger would tap,
/// and gets focus with Tab (pressed until focus has been round the page).
async fn everything_fits(
    page: &ChatPage<'_>,
    env: &Env,
    what: &str,
    screenshot: Option<&str>,
) -> anyhow::Result<()> {
    let browser = page.browser();
    if let Some(file) = screenshot {
        browser.screenshot(env, file).await?;
    }
    let driver = browser.driver();
    let layout = driver.execute(LAYOUT_SCRIPT, vec![]).await?;
    let layout = layout.json();
    let (scroll_width, client_width) = (
        layout["scrollWidth"].as_f64().unwrap_or(f64::MAX),
        layout["clientWidth"].as_f64().unwrap_or(0.0),
    );
    anyhow::ensure!(
        scroll_width <= client_width,
        "{what}: scrolls sideways ({scroll_width} > {client_width}); sticking out: {}",
        layout["wide"]
    );
    let controls = layout["controls"].as_array().cloned().unwrap_or_default();
    anyhow::ensure!(!controls.is_empty(), "{what}: no controls found");
    let small: Vec<_> = controls
        .iter()
        .filter(|c| c[1].as_f64().unwrap_or(0.0) < 44.0 || c[2].as_f64().unwrap_or(0.0) < 44.0)
        .collect();
    anyhow::ensure!(
        small.is_empty(),
        "{what}: touch targets under 44 px: {small:?}"
    );
    anyhow::ensure!(
        layout["covered"].as_array().is_some_and(Vec::is_empty),
        "{what}: covered where a finger would tap: {}",
        layout["covered"]
    );

    // From the first control, Tab round the page noting what has focus after each press
    // (read from `document.activeElement`: Firefox fires no focus events after a touch
    // action); a scrolling box may take a stop too, hence the margin. Then ask which control
    // never had it.
    let note_focus = "window.__confabFocused.add(document.activeElement);";
    driver
        .execute(
            &format!("window.__confabFocused = new Set(); window.__confabControls[0].focus(); {note_focus}"),
            vec![],
        )
        .await?;
    let n_controls = layout["count"].as_u64().unwrap_or(0);
    for _ in 0..n_controls + 10 {
        driver.action_chain().send_keys(Key::Tab).perform().await?;
        driver.execute(note_focus, vec![]).await?;
    }
    browser.focus_page().await?;
    // Back as it was for the next look: nothing focused, the newest message in view, the
    // panels at their top.
    let missed = driver
        .execute(
            "document.activeElement && document.activeElement.blur();
             const list = document.querySelector('ul.messages');
             if (list) list.scrollTop = list.scrollHeight;
             const panels = document.getElementById('panels');
             if (panels) panels.scrollTop = 0;
             return window.__confabControls.filter(el => !window.__confabFocused.has(el))
               .map(el => `${el.tagName.toLowerCase()} ${el.getAttribute('aria-label') || el.textContent.trim().slice(0, 40)}`);",
            vec![],
        )
        .await?;
    anyhow::ensure!(
        missed.json().as_array().is_some_and(Vec::is_empty),
        "{what}: not reachable with Tab: {}",
        missed.json()
    );
    Ok(())
}
