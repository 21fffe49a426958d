//! The profile store: files named by UUID, atomic replacement, failed imports change nothing.

#![allow(clippy::unwrap_used)] // test helpers outside #[test] functions may unwrap too

use std::fs;

use profile::{
    AuthMethod, Gateway, Profile, ProfileId, ProfileStore, SaveOutcome, StoreError, import_sswan,
};

fn fixture(name: &str) -> Vec<u8> {
    fs::read(format!(
        "{}/tests/fixtures/sswan/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

fn sample(name: &str) -> Profile {
    Profile::new(
        ProfileId::new_random(),
        name,
        Gateway::new("vpn.example.com"),
        AuthMethod::EapMschapv2 { username: None },
    )
}

fn file_names(store: &ProfileStore) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(store.dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn save_list_get_rename_delete() {
    let dir = tempfile::tempdir().unwrap();
    let store = ProfileStore::open(dir.path().join("profiles")).unwrap();
    assert!(store.list().unwrap().is_empty());
    let b = sample("Beta");
    let a = sample("Alpha");
    assert_eq!(store.save(&b).unwrap(), SaveOutcome::Created);
    assert_eq!(store.save(&a).unwrap(), SaveOutcome::Created);
    let names: Vec<String> = store.list().unwrap().into_iter().map(|p| p.name).collect();
    assert_eq!(names, ["Alpha", "Beta"]);
    assert_eq!(store.get(a.id).unwrap(), a);

    let renamed = store.rename(a.id, "Gamma").unwrap();
    assert_eq!(renamed.name, "Gamma");
    assert_eq!(store.get(a.id).unwrap().name, "Gamma");
    assert!(matches!(
        store.rename(a.id, "../evil"),
        Err(StoreError::Invalid(_))
    ));

    store.delete(b.id).unwrap();
    assert!(matches!(store.get(b.id), Err(StoreError::NotFound(id)) if id == b.id));
    assert!(matches!(store.delete(b.id), Err(StoreError::NotFound(_))));
    assert_eq!(file_names(&store), [format!("{}.json", a.id)]);
}

#[test]
fn files_are_named_by_uuid_never_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let store = ProfileStore::open(dir.path()).unwrap();
    let mut p = sample("Home: VPN * (test)");
    p.name = "Home: VPN * (test)".into();
    store.save(&p).unwrap();
    assert_eq!(file_names(&store), [format!("{}.json", p.id)]);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = fs::metadata(store.dir().join(format!("{}.json", p.id)))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o077, 0, "profile files are private");
    }
}

#[test]
fn importing_the_same_uuid_replaces() {
    let dir = tempfile::tempdir().unwrap();
    let store = ProfileStore::open(dir.path()).unwrap();
    let first = import_sswan(&fixture("eap.sswan")).unwrap();
    assert_eq!(store.import(&first).unwrap(), SaveOutcome::Created);
    let edited = String::from_utf8(fixture("eap.sswan"))
        .unwrap()
        .replace("Example Corp (EAP)", "Example Corp (renamed)");
    let second = import_sswan(edited.as_bytes()).unwrap();
    assert_eq!(store.import(&second).unwrap(), SaveOutcome::Replaced);
    let all = store.list().unwrap();
    assert_eq!(all.len(), 1);
    assert_eq!(all[0].name, "Example Corp (renamed)");
}

#[test]
fn a_failed_import_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let store = ProfileStore::open(dir.path()).unwrap();
    let good = import_sswan(&fixture("eap.sswan")).unwrap();
    store.import(&good).unwrap();
    let path = store.dir().join(format!("{}.json", good.profile.id));
    let before = fs::read(&path).unwrap();

    // Same UUID, invalid content: refused before anything is written.
    let mut bad = good.clone();
    bad.profile.mtu = Some(1);
    assert!(matches!(store.import(&bad), Err(StoreError::Invalid(_))));
    assert_eq!(fs::read(&path).unwrap(), before);
    assert_eq!(
        file_names(&store).len(),
        1,
        "no temporary file is left behind"
    );

    // A write that fails half way (the directory is gone) leaves no trace either.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let locked = tempfile::tempdir().unwrap();
        let locked_store = ProfileStore::open(locked.path()).unwrap();
        locked_store.import(&good).unwrap();
        let locked_path = locked_store.dir().join(format!("{}.json", good.profile.id));
        let before = fs::read(&locked_path).unwrap();
        fs::set_permissions(locked.path(), fs::Permissions::from_mode(0o500)).unwrap();
        let mut changed = good.clone();
        changed.profile.name = "Changed".into();
        let result = locked_store.import(&changed);
        fs::set_permissions(locked.path(), fs::Permissions::from_mode(0o700)).unwrap();
        // Root ignores directory permissions; only check the failure path when it failed.
        if result.is_err() {
            assert_eq!(fs::read(&locked_path).unwrap(), before);
            assert_eq!(fs::read_dir(locked.path()).unwrap().count(), 1);
        }
    }
}

#[test]
fn stray_and_corrupt_files_do_not_break_listing() {
    let dir = tempfile::tempdir().unwrap();
    let store = ProfileStore::open(dir.path()).unwrap();
    let p = sample("Good");
    store.save(&p).unwrap();
    // A leftover temporary file from a crash, an unrelated file, a corrupt profile, and a
    // profile whose content claims another id.
    fs::write(store.dir().join(format!(".{}.json.tmp-1-0", p.id)), b"{").unwrap();
    fs::write(store.dir().join("notes.txt"), b"hello").unwrap();
    let corrupt = ProfileId::new_random();
    fs::write(store.dir().join(format!("{corrupt}.json")), b"{not json").unwrap();
    let liar = ProfileId::new_random();
    fs::copy(
        store.dir().join(format!("{}.json", p.id)),
        store.dir().join(format!("{liar}.json")),
    )
    .unwrap();
    let listed = store.list().unwrap();
    assert_eq!(listed, [p]);
    assert!(matches!(
        store.get(corrupt),
        Err(StoreError::Corrupt { .. })
    ));
    assert!(matches!(store.get(liar), Err(StoreError::Corrupt { .. })));
}

#[test]
fn a_failed_rename_leaves_the_old_file_and_no_temporary() {
    let dir = tempfile::tempdir().unwrap();
    let store = ProfileStore::open(dir.path()).unwrap();
    let p = sample("Blocked");
    // Something that cannot be replaced by a file sits where the profile goes: the write
    // reaches the rename and fails there, even when running as root.
    let target = store.dir().join(format!("{}.json", p.id));
    fs::create_dir(&target).unwrap();
    fs::write(target.join("keep"), b"x").unwrap();
    assert!(matches!(store.save(&p), Err(StoreError::Io { .. })));
    assert!(target.join("keep").exists());
    let names = file_names(&store);
    assert_eq!(
        names,
        [format!("{}.json", p.id)],
        "no temporary file is left behind"
    );
}
