//! Constructor slots are per process and never released, so their exhaustion is tested in a
//! process of its own (this test binary).
use memserver::server::Quota;
use memserver_client_c_tests as c;
use memserver_tests::World;

#[test]
fn more_constructors_than_slots_are_refused() {
    let world = World::new(1, 1, 32);
    let client = world.client(0, Quota::UNLIMITED, 32);
    assert!(memserver_client_c::install(client).is_ok());
    // SAFETY: a C test function of `c/api_test.c`, with its client installed, in a process where
    // no constructor slot was used before.
    let failed = unsafe { c::capi_test_ctor_slots() };
    // SAFETY: as above.
    let live = unsafe { c::capi_live_objects_after_flush() };
    memserver_client_c::take()
        .expect("installed")
        .detach()
        .expect("detach");
    assert_eq!(failed, 0, "failed C checks (see stderr)");
    assert_eq!(live, 0);
    world.validate();
}
