// App commands get permissions (`allow-<command>`), so each window's capability can list only
// the commands that window needs.
fn main() {
    tauri_build::try_build(tauri_build::Attributes::new().app_manifest(
        tauri_build::AppManifest::new().commands(&[
            "status",
            "history",
            "stop_holder",
            "set_paused",
            "cancel_run",
            "move_to_front",
            "get_settings",
            "set_hotkey",
            "set_notifications",
            "set_default_ttl",
            "set_api_port",
            "user_token",
            "regenerate_token",
            "set_autostart",
            "resume_holder",
            "set_takeover",
            "set_limits",
            "allow_run",
            "set_ask_first",
            "timeline",
            "resources",
            "add_resource",
            "set_capacity",
            "remove_resource",
            "displays",
            "display_picture",
            "schedules",
            "put_schedule",
            "remove_schedule",
            "pause_schedule",
            "run_schedule",
            "run_log",
        ]),
    ))
    .expect("tauri-build failed");
}
