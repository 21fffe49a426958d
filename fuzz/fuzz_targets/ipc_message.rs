//! Fuzzes the helper's IPC boundary: any frame body a local client can send is decoded into a
//! typed message or a typed error, and a decoded connect request goes through `ternd`'s checks of
//! the profile and secrets it carries; never a panic. Server messages are decoded too (the clients
//! read them).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(message) = ipc::frame::decode::<ipc::ClientMessage>(data)
        && let Some(request) = connect_request(message)
    {
        let _ = ternd::controller::request::check(request);
    }
    let _ = ipc::frame::decode::<ipc::ServerMessage>(data);
});

fn connect_request(message: ipc::ClientMessage) -> Option<ipc::ConnectRequest> {
    match message.request {
        ipc::Request::Connect(request) => Some(*request),
        _ => None,
    }
}
