//! The C API driven by C code (`c/api_test.c`, compiled against `memserver.h`) over an in-process
//! server. Each test installs a fresh client, runs one C test, checks that it passed, that
//! everything it allocated went back to the server, and that the server's invariants hold.
use memserver::server::Quota;
use memserver_client_c_tests as c;
use memserver_tests::World;
use std::sync::Mutex;

/// The C API has one client per process: tests that install one take turns.
static ONE_CLIENT: Mutex<()> = Mutex::new(());

fn run(test: unsafe extern "C" fn() -> i32) {
    let _turn = ONE_CLIENT.lock().unwrap_or_else(|e| e.into_inner());
    let world = World::new(1, 1, 32);
    let before = world.stats();
    let client = world.client(0, Quota::UNLIMITED, 32);
    assert!(memserver_client_c::install(client).is_ok_and(|old| old.is_none()));
    // SAFETY: a C test function of `c/api_test.c`, with the client it needs installed.
    let failed = unsafe { test() };
    // SAFETY: as above.
    let live = unsafe { c::capi_live_objects_after_flush() };
    let client = memserver_client_c::take().expect("the client is still installed");
    client.detach().expect("detach");
    assert_eq!(failed, 0, "failed C checks (see stderr)");
    assert_eq!(live, 0, "objects left live at the server");
    world.validate();
    assert_eq!(
        world.stats(),
        before,
        "the accounting returns to its earlier value"
    );
}

#[test]
fn cache_lifecycle() {
    run(c::capi_test_cache_lifecycle);
}

#[test]
fn bad_arguments_each_get_their_code() {
    run(c::capi_test_bad_arguments);
}

#[test]
fn kmalloc_family() {
    run(c::capi_test_kmalloc);
}

#[test]
fn slabinfo_as_snprintf() {
    run(c::capi_test_slabinfo);
}

#[test]
fn violations_are_read_like_dmesg() {
    run(c::capi_test_violations);
}

#[test]
fn a_constructor_calling_back_gets_in_use() {
    run(c::capi_test_reentrant_ctor);
}

#[test]
fn error_texts_and_last_error() {
    run(c::capi_test_errors);
}

#[test]
fn without_a_client_every_call_says_not_connected() {
    let _turn = ONE_CLIENT.lock().unwrap_or_else(|e| e.into_inner());
    assert!(memserver_client_c::take().is_none());
    // SAFETY: a C test function that needs no client.
    assert_eq!(unsafe { c::capi_test_not_connected() }, 0);
}
