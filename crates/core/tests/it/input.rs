//! The input gateway with a recording driver, over the real scheduler and SQLite: the order is
//! kept, nobody but the holder with its token acts, and nothing stays pressed for the next one.

use std::time::{Duration, Instant};

use crate::common::desktop;
use baton_core::input::{Action, Button, FakeDriver, Gateway, InputDriver, Step, Stop, validate};
use baton_core::{Caller, Outcome};

fn gateway(core: &baton_core::Handle) -> (Gateway, FakeDriver) {
    let driver = FakeDriver::new();
    let recorded = driver.clone();
    let gateway = Gateway::spawn(
        move || Ok(Box::new(driver) as Box<dyn InputDriver>),
        core.watch_status(),
    );
    (gateway, recorded)
}

fn steps(actions: &[Action]) -> Vec<Step> {
    validate(actions, (1280, 800)).unwrap()
}

#[tokio::test]
async fn only_the_holder_with_its_token_acts_and_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let core = crate::common::open_at(&dir.path().join("baton.db")).await;
    let (gateway, driver) = gateway(&core);
    let a = crate::common::submitted(&core, desktop("a")).await;
    let b = crate::common::submitted(&core, desktop("b")).await;
    let batch = steps(&[
        Action::Move {
            x: 1,
            y: 2,
            relative: false,
        },
        Action::Type { text: "hi".into() },
        Action::Key {
            combo: "ctrl+l".into(),
        },
    ]);
    let done = gateway.run(a, 1, batch.clone()).await.unwrap();
    assert_eq!((done.ran, done.stopped), (3, None));
    assert_eq!(*driver.performed.lock().unwrap(), batch);

    assert_eq!(
        gateway.run(b, 1, batch.clone()).await.unwrap().stopped,
        Some(Stop::NotHolder)
    );
    assert_eq!(
        gateway.run(a, 9, batch.clone()).await.unwrap().stopped,
        Some(Stop::StaleToken { current: 1 })
    );
    core.pause_holder(Caller::user("takeover")).await.unwrap();
    assert_eq!(
        gateway.run(a, 1, batch.clone()).await.unwrap().stopped,
        Some(Stop::UserActive)
    );
    assert_eq!(
        driver.performed.lock().unwrap().len(),
        3,
        "refused batches sent nothing"
    );
}

#[tokio::test]
async fn a_button_left_pressed_is_let_go_when_its_holder_loses_the_desktop() {
    let dir = tempfile::tempdir().unwrap();
    let core = crate::common::open_at(&dir.path().join("baton.db")).await;
    let (gateway, driver) = gateway(&core);
    let a = crate::common::submitted(&core, desktop("a")).await;
    let b = crate::common::submitted(&core, desktop("b")).await;
    // a starts a drag and means to finish it in its next batch...
    let down = steps(&[
        Action::Down {
            button: Button::Left,
        },
        Action::Move {
            x: 50,
            y: 50,
            relative: false,
        },
    ]);
    assert_eq!(gateway.run(a, 1, down).await.unwrap().ran, 2);
    // ... but is done before it does: the button goes up on its own, soon.
    core.finish(a, Caller::Run(a), Outcome::Succeeded, None, None)
        .await
        .unwrap();
    let start = Instant::now();
    while !driver
        .performed
        .lock()
        .unwrap()
        .contains(&Step::Up(Button::Left))
    {
        assert!(
            start.elapsed() < Duration::from_secs(3),
            "the button stayed down"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // The next holder finds nothing pressed, and its own input goes through.
    let click = steps(&[Action::Click {
        button: Button::Left,
        count: 1,
    }]);
    assert_eq!(gateway.run(b, 2, click).await.unwrap().stopped, None);
}

#[tokio::test]
async fn a_cancel_mid_batch_lets_go_of_what_the_batch_pressed() {
    let dir = tempfile::tempdir().unwrap();
    let core = crate::common::open_at(&dir.path().join("baton.db")).await;
    let (gateway, driver) = gateway(&core);
    let a = crate::common::submitted(&core, desktop("a")).await;
    let batch = steps(&[
        Action::Down {
            button: Button::Right,
        },
        Action::Wait { ms: 400 },
        Action::Up {
            button: Button::Right,
        },
    ]);
    let running = {
        let gateway = gateway.clone();
        tokio::spawn(async move { gateway.run(a, 1, batch).await })
    };
    tokio::time::sleep(Duration::from_millis(100)).await;
    core.cancel(a, Caller::user("test"), None).await.unwrap();
    let outcome = running.await.unwrap().unwrap();
    assert_eq!((outcome.ran, outcome.stopped), (2, Some(Stop::NotHolder)));
    assert_eq!(
        *driver.performed.lock().unwrap(),
        vec![Step::Down(Button::Right), Step::Up(Button::Right)],
        "the gateway let go itself; the batch's own Up never ran"
    );
}

/// A driver that waits for the person (the Wayland portal's dialog) does not hold the host's
/// start: the gateway answers at once that it waits, refuses input meanwhile, and serves the
/// holder once the driver has connected; a driver that then fails says why.
#[tokio::test]
async fn a_driver_waiting_for_permission_is_refused_honestly_until_it_connects() {
    let dir = tempfile::tempdir().unwrap();
    let core = crate::common::open_at(&dir.path().join("baton.db")).await;
    let driver = FakeDriver::new();
    let recorded = driver.clone();
    let (allow, allowed) = std::sync::mpsc::channel::<()>();
    let started = Instant::now();
    let gateway = Gateway::spawn_patient(
        move || {
            allowed.recv().map_err(|e| e.to_string())?;
            Ok(Box::new(driver) as Box<dyn InputDriver>)
        },
        core.watch_status(),
        Duration::from_millis(100),
        "waiting for the person to allow it".into(),
    );
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "the start did not wait for the person"
    );
    assert!(!gateway.available());
    assert_eq!(
        gateway.unavailable_reason().as_deref(),
        Some("waiting for the person to allow it")
    );
    let a = crate::common::submitted(&core, desktop("a")).await;
    let refused = gateway
        .run(a, 1, steps(&[Action::Type { text: "hi".into() }]))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), baton_core::ErrorCode::NoDisplay);
    assert!(
        refused.to_string().contains("waiting for the person"),
        "{refused}"
    );

    allow.send(()).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !gateway.available() {
        assert!(
            Instant::now() < deadline,
            "the driver connected but the gateway never said so"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let done = gateway
        .run(a, 1, steps(&[Action::Type { text: "hi".into() }]))
        .await
        .unwrap();
    assert_eq!((done.ran, done.stopped), (1, None));
    assert_eq!(
        recorded.performed.lock().unwrap().len(),
        1,
        "only what came after the grant"
    );

    // A refusal in the dialog: the reason replaces the wait.
    let (refuse, refused_rx) = std::sync::mpsc::channel::<()>();
    let gateway = Gateway::spawn_patient(
        move || {
            let _ = refused_rx.recv();
            Err("the person said no".to_string())
        },
        core.watch_status(),
        Duration::from_millis(50),
        "waiting".into(),
    );
    assert_eq!(gateway.unavailable_reason().as_deref(), Some("waiting"));
    refuse.send(()).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while gateway.unavailable_reason().as_deref() == Some("waiting") {
        assert!(Instant::now() < deadline, "the refusal was never said");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(
        gateway.unavailable_reason().as_deref(),
        Some("the person said no")
    );
}

/// A desktop that moves the pointer but tells nobody where it is (Wayland).
struct Blind(FakeDriver);

impl InputDriver for Blind {
    fn screen(&mut self) -> Result<(i32, i32), String> {
        self.0.screen()
    }
    fn pointer(&mut self) -> Result<Option<(i32, i32)>, String> {
        Ok(None)
    }
    fn perform(&mut self, step: &Step) -> Result<(), String> {
        self.0.perform(step)
    }
}

/// Where such a desktop's pointer is gets an honest `not_supported` that says what to do
/// instead, not a failure of the display; and it asks the driver nothing else.
#[tokio::test]
async fn a_desktop_that_hides_the_pointer_says_so_and_how_to_move_it() {
    let dir = tempfile::tempdir().unwrap();
    let core = crate::common::open_at(&dir.path().join("baton.db")).await;
    let driver = FakeDriver::new();
    let recorded = driver.clone();
    let blind = Gateway::spawn(
        move || Ok(Box::new(Blind(driver)) as Box<dyn InputDriver>),
        core.watch_status(),
    );
    let refused = blind.pointer().await.unwrap_err();
    assert_eq!(refused.code(), baton_core::ErrorCode::NotSupported);
    assert!(
        refused.to_string().contains("baton input move"),
        "{refused}"
    );
    assert!(recorded.performed.lock().unwrap().is_empty());
    // The seeing driver answers where it is.
    let (seeing, _) = gateway(&core);
    assert_eq!(seeing.pointer().await.unwrap(), (0, 0));
}

/// A run's private display (DESIGN rule 14): its gateway lets only that run act, by its token
/// of `displays`, and nobody once the run lets go; the person's takeover of the desktop does
/// not touch it; the driver ends when the last clone of the gateway is dropped.
#[tokio::test]
async fn a_private_display_s_gateway_serves_its_own_run_by_its_token_of_displays() {
    use baton_core::input::Guard;
    use baton_core::{Config, ResourceName};
    let dir = tempfile::tempdir().unwrap();
    let config = Config {
        private_displays: Some(2),
        ..Config::default()
    };
    let core = crate::common::open_with(&dir.path().join("baton.db"), config).await;
    let displays = ResourceName::displays();
    let spec = |title: &str| crate::common::parallel(title).with_resources([displays.clone()]);
    let a = crate::common::submitted(&core, spec("a")).await;
    let b = crate::common::submitted(&core, spec("b")).await;
    let desktop_holder = crate::common::submitted(&core, desktop("person's desktop")).await;
    let driver = FakeDriver::new();
    let recorded = driver.clone();
    let ended = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    struct Ends(FakeDriver, std::sync::Arc<std::sync::atomic::AtomicBool>);
    impl InputDriver for Ends {
        fn screen(&mut self) -> Result<(i32, i32), String> {
            self.0.screen()
        }
        fn pointer(&mut self) -> Result<Option<(i32, i32)>, String> {
            self.0.pointer()
        }
        fn perform(&mut self, step: &Step) -> Result<(), String> {
            self.0.perform(step)
        }
    }
    impl Drop for Ends {
        fn drop(&mut self) {
            self.1.store(true, std::sync::atomic::Ordering::SeqCst);
        }
    }
    let flag = ended.clone();
    let gateway = Gateway::spawn_guarding(
        move || Ok(Box::new(Ends(driver, flag)) as Box<dyn InputDriver>),
        core.watch_status(),
        Guard::Resource {
            resource: displays.clone(),
            run: a,
        },
    );
    let token_of = |id| {
        core.published()
            .token_of(&displays, id)
            .expect("holds a display")
    };
    let click = steps(&[Action::Click {
        button: Button::Left,
        count: 1,
    }]);
    assert_eq!(
        gateway
            .run(a, token_of(a), click.clone())
            .await
            .unwrap()
            .stopped,
        None
    );
    // Another holder of the pool, with its own good token, is still not this display's run.
    assert_eq!(
        gateway
            .run(b, token_of(b), click.clone())
            .await
            .unwrap()
            .stopped,
        Some(Stop::NotHolder)
    );
    assert_eq!(
        gateway.run(a, 99, click.clone()).await.unwrap().stopped,
        Some(Stop::StaleToken {
            current: token_of(a)
        })
    );
    // The person taking over the desktop pauses its holder, not a private display's run.
    core.pause_holder(Caller::user("takeover")).await.unwrap();
    assert_eq!(
        gateway
            .run(a, token_of(a), click.clone())
            .await
            .unwrap()
            .stopped,
        None
    );
    let token = token_of(a);
    core.finish(a, Caller::Run(a), Outcome::Succeeded, None, None)
        .await
        .unwrap();
    assert_eq!(
        gateway.run(a, token, click.clone()).await.unwrap().stopped,
        Some(Stop::NotHolder)
    );
    assert_eq!(recorded.performed.lock().unwrap().len(), 2 * click.len());
    let _ = desktop_holder;
    drop(gateway);
    let start = Instant::now();
    while !ended.load(std::sync::atomic::Ordering::SeqCst) {
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "the driver never ended"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}
