//! Vault tests: seal/open, key wrapping, passphrase changes, the export format, and
//! hostile bytes (tampered, truncated, arbitrary) that must give errors, never panics.

use proptest::prelude::*;

use super::*;

/// Cheap Argon2 costs so tests stay fast; one test below uses the real default.
const FAST: KdfParams = KdfParams {
    m_cost_kib: 64,
    t_cost: 1,
    p_cost: 1,
};

fn ctx(key: &[u8]) -> Vec<u8> {
    record_context("events", key)
}

/// Whether `vault` opens what `other` sealed: the two hold the same data key.
fn same_key(vault: &mut Vault, other: &Vault) -> bool {
    let sealed = vault.seal(b"probe", b"probe").unwrap();
    other.open(b"probe", &sealed).is_ok()
}

#[test]
fn sealed_records_open_with_the_same_key_and_context_only() {
    let mut vault = Vault::create([1; 32]);
    let sealed = vault.seal(&ctx(b"k1"), b"hello").unwrap();
    assert_eq!(sealed.len(), b"hello".len() + SEALED_OVERHEAD);
    assert_eq!(sealed[0], VERSION);
    assert_eq!(vault.open(&ctx(b"k1"), &sealed).unwrap(), b"hello");
    assert!(matches!(
        vault.open(&ctx(b"k2"), &sealed),
        Err(VaultError::Corrupt(_))
    ));
    assert!(matches!(
        vault.open(&record_context("rooms", b"k1"), &sealed),
        Err(VaultError::Corrupt(_))
    ));
    let other = Vault::create([2; 32]);
    assert!(matches!(
        other.open(&ctx(b"k1"), &sealed),
        Err(VaultError::Corrupt(_))
    ));
}

#[test]
fn nonces_differ_between_seals() {
    let mut vault = Vault::create([1; 32]);
    let a = vault.seal(b"c", b"same").unwrap();
    let b = vault.seal(b"c", b"same").unwrap();
    assert_ne!(a, b);
}

#[test]
fn record_contexts_do_not_collide() {
    assert_ne!(record_context("ab", b"c"), record_context("a", b"bc"));
    assert_ne!(record_context("", b"ab"), record_context("a", b"b"));
}

#[test]
fn every_tampered_or_truncated_record_is_an_error() {
    let mut vault = Vault::create([3; 32]);
    let sealed = vault.seal(&ctx(b"k"), b"secret text").unwrap();
    for i in 0..sealed.len() {
        for bit in 0..8 {
            let mut bad = sealed.clone();
            bad[i] ^= 1 << bit;
            assert!(vault.open(&ctx(b"k"), &bad).is_err(), "byte {i} bit {bit}");
        }
    }
    for len in 0..sealed.len() {
        assert!(
            vault.open(&ctx(b"k"), &sealed[..len]).is_err(),
            "length {len}"
        );
    }
    let mut future = sealed.clone();
    future[0] = 2;
    assert_eq!(
        vault.open(&ctx(b"k"), &future),
        Err(VaultError::Version {
            expected: 1,
            got: 2
        })
    );
}

#[test]
fn plain_key_round_trips_without_a_passphrase() {
    let mut vault = Vault::create([4; 32]);
    let wrapped = vault.wrap(None, FAST).unwrap();
    assert!(!wrapped.needs_passphrase());
    assert_eq!(wrapped.kdf_params(), None);
    let bytes = wrapped.encode();
    assert_eq!(bytes.len(), 2 + KEY_LEN);
    assert_eq!(&bytes[..2], &[VERSION, 0]);
    let decoded = WrappedKey::decode(&bytes).unwrap();
    // A passphrase offered for an unprotected key is ignored.
    for passphrase in [None, Some("anything")] {
        let unlocked = Vault::unlock(&decoded, passphrase, [5; 32]).unwrap();
        assert!(same_key(&mut vault, &unlocked));
    }
}

#[test]
fn passphrase_right_wrong_and_missing() {
    let mut vault = Vault::create([6; 32]);
    let wrapped = vault.wrap(Some("correct horse"), FAST).unwrap();
    assert!(wrapped.needs_passphrase());
    assert_eq!(wrapped.kdf_params(), Some(FAST));
    let bytes = wrapped.encode();
    assert_eq!(bytes.len(), WRAP_HEADER_LEN + NONCE_LEN + KEY_LEN + TAG_LEN);
    assert!(
        !bytes.windows(KEY_LEN).any(|w| w == vault.key.as_slice()),
        "the wrapped form must not contain the key"
    );
    let decoded = WrappedKey::decode(&bytes).unwrap();
    let unlocked = Vault::unlock(&decoded, Some("correct horse"), [7; 32]).unwrap();
    assert!(same_key(&mut vault, &unlocked));
    assert!(matches!(
        Vault::unlock(&decoded, Some("correct horse "), [7; 32]),
        Err(VaultError::WrongPassphrase)
    ));
    assert!(matches!(
        Vault::unlock(&decoded, Some(""), [7; 32]),
        Err(VaultError::WrongPassphrase)
    ));
    assert!(matches!(
        Vault::unlock(&decoded, None, [7; 32]),
        Err(VaultError::PassphraseRequired)
    ));
}

#[test]
fn changing_and_removing_the_passphrase_only_rewraps_the_key() {
    let mut vault = Vault::create([8; 32]);
    let first = vault.wrap(Some("old passphrase"), FAST).unwrap().encode();
    let record = vault.seal(&ctx(b"r"), b"kept").unwrap();

    let mut unlocked = Vault::unlock(
        &WrappedKey::decode(&first).unwrap(),
        Some("old passphrase"),
        [9; 32],
    )
    .unwrap();
    let second = unlocked
        .wrap(Some("new passphrase"), FAST)
        .unwrap()
        .encode();
    let second = WrappedKey::decode(&second).unwrap();
    assert!(matches!(
        Vault::unlock(&second, Some("old"), [10; 32]),
        Err(VaultError::WrongPassphrase)
    ));
    let mut renewed = Vault::unlock(&second, Some("new passphrase"), [10; 32]).unwrap();
    assert_eq!(renewed.open(&ctx(b"r"), &record).unwrap(), b"kept");

    let third = renewed.wrap(None, FAST).unwrap();
    let bare = Vault::unlock(&third, None, [11; 32]).unwrap();
    assert_eq!(bare.open(&ctx(b"r"), &record).unwrap(), b"kept");
}

#[test]
fn fresh_salts_and_nonces_for_every_wrap() {
    let mut vault = Vault::create([12; 32]);
    let (WrappedKey::Passphrase(a), WrappedKey::Passphrase(b)) = (
        vault.wrap(Some("a passphrase"), FAST).unwrap(),
        vault.wrap(Some("a passphrase"), FAST).unwrap(),
    ) else {
        panic!("expected passphrase wraps");
    };
    assert_ne!(a.salt, b.salt);
    assert_ne!(a.nonce, b.nonce);
}

#[test]
fn every_tampered_wrapped_key_is_an_error() {
    let mut vault = Vault::create([13; 32]);
    let bytes = vault.wrap(Some("some passphrase"), FAST).unwrap().encode();
    for i in 0..bytes.len() {
        for bit in 0..8 {
            let mut bad = bytes.to_vec();
            bad[i] ^= 1 << bit;
            let result =
                WrappedKey::decode(&bad).and_then(|w| Vault::unlock(&w, Some("pw"), [0; 32]));
            assert!(result.is_err(), "byte {i} bit {bit}");
        }
    }
    for len in 0..bytes.len() {
        assert!(WrappedKey::decode(&bytes[..len]).is_err(), "length {len}");
    }
    let mut longer = bytes.to_vec();
    longer.push(0);
    assert_eq!(
        WrappedKey::decode(&longer).err(),
        Some(VaultError::Corrupt("trailing bytes"))
    );
    assert_eq!(
        WrappedKey::decode(&[VERSION, 7]).err(),
        Some(VaultError::Corrupt("unknown key protection"))
    );
}

#[test]
fn out_of_range_parameters_are_refused_before_any_work() {
    let mut vault = Vault::create([14; 32]);
    for params in [
        KdfParams { t_cost: 0, ..FAST },
        KdfParams { p_cost: 0, ..FAST },
        KdfParams {
            m_cost_kib: 7,
            ..FAST
        },
        KdfParams {
            m_cost_kib: KdfParams::MAX_M_COST_KIB + 1,
            ..FAST
        },
        KdfParams {
            t_cost: KdfParams::MAX_T_COST + 1,
            ..FAST
        },
        KdfParams {
            p_cost: 9,
            m_cost_kib: 64,
            t_cost: 1,
        },
    ] {
        assert_eq!(params.check(), Err(VaultError::KdfParams(params)));
        assert_eq!(
            vault.wrap(Some("some passphrase"), params).err(),
            Some(VaultError::KdfParams(params))
        );
    }
    // A stored key claiming 4 GiB of memory is refused while decoding.
    let mut bytes = vault
        .wrap(Some("some passphrase"), FAST)
        .unwrap()
        .encode()
        .to_vec();
    bytes[2..6].copy_from_slice(&u32::MAX.to_be_bytes());
    assert!(matches!(
        WrappedKey::decode(&bytes),
        Err(VaultError::KdfParams(_))
    ));
}

/// The real default costs (OWASP: 19 MiB, t = 2, p = 1), once.
#[test]
fn default_parameters_wrap_and_unlock() {
    assert_eq!(
        KdfParams::default(),
        KdfParams {
            m_cost_kib: 19_456,
            t_cost: 2,
            p_cost: 1
        }
    );
    let mut vault = Vault::create([15; 32]);
    let wrapped = vault
        .wrap(Some("a long pass phrase"), KdfParams::default())
        .unwrap();
    let unlocked = Vault::unlock(&wrapped, Some("a long pass phrase"), [16; 32]).unwrap();
    assert!(same_key(&mut vault, &unlocked));
    assert!(matches!(
        Vault::unlock(&wrapped, Some("A long pass phrase"), [16; 32]),
        Err(VaultError::WrongPassphrase)
    ));
}

/// Pinned bytes: a version-1 key and record must keep opening in later builds.
#[test]
fn version_1_bytes_still_open() {
    let mut vault = Vault::create([17; 32]);
    // "pinned" is too weak to choose today; the bytes must still open with it.
    let wrapped = vault.wrap_unchecked("pinned", FAST).unwrap().encode();
    let sealed = vault.seal(&ctx(b"pin"), b"pinned text").unwrap();
    assert_eq!(hex(&wrapped), PINNED_WRAPPED_KEY);
    assert_eq!(hex(&sealed), PINNED_RECORD);
    let unlocked = Vault::unlock(
        &WrappedKey::decode(&unhex(PINNED_WRAPPED_KEY)).unwrap(),
        Some("pinned"),
        [0; 32],
    )
    .unwrap();
    assert_eq!(
        unlocked.open(&ctx(b"pin"), &unhex(PINNED_RECORD)).unwrap(),
        b"pinned text"
    );
}

const PINNED_WRAPPED_KEY: &str = "0101000000400000000100000001b53c47a8cdd587fdc75bbb1081264e7510720fc81f2a19e8e3ecc92e8917c7a1f8301bd38e751893705957b678272219c26e1639fa6e0d94a103234f6d764252a93b0b46a615af928106c2b4ffec0290a787eab3b839e416";
const PINNED_RECORD: &str = "01232e6a8ef8f9378c37fb6e328372908b6c915160e9c3a2c27ca9f1d6d017edd2e32402a3984add6c57f348a2b59bd21cd177ad";

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(text: &str) -> Vec<u8> {
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap())
        .collect()
}

fn sample_records() -> Vec<Record> {
    vec![
        Record {
            store: "meta".into(),
            key: b"profile".to_vec(),
            value: vec![1; 40],
        },
        Record {
            store: "rooms".into(),
            key: b"ab12".to_vec(),
            value: b"room secret and title".to_vec(),
        },
        Record {
            store: "events".into(),
            key: vec![0; 40],
            value: Vec::new(),
        },
    ]
}

#[test]
fn export_round_trips_and_refuses_the_wrong_passphrase() {
    let records = sample_records();
    let blob = export_profile(&records, "export pass", FAST, [18; 32]).unwrap();
    assert_eq!(blob[0], VERSION);
    assert_eq!(&blob[1..15], b"confab-profile");
    assert!(!blob.windows(11).any(|w| w == b"room secret"));
    assert!(import_profile(&blob, "export pass").unwrap() == records);
    assert_eq!(
        import_profile(&blob, "export pas").err(),
        Some(VaultError::WrongPassphrase)
    );
    let empty = export_profile(&[], "an empty one", FAST, [19; 32]).unwrap();
    assert!(import_profile(&empty, "an empty one").unwrap().is_empty());
}

#[test]
fn every_tampered_or_truncated_export_is_an_error() {
    let blob = export_profile(&sample_records(), "export pass", FAST, [20; 32]).unwrap();
    for i in 0..blob.len() {
        let mut bad = blob.clone();
        bad[i] ^= 0x10;
        assert!(import_profile(&bad, "export pass").is_err(), "byte {i}");
    }
    for len in 0..blob.len() {
        assert!(
            import_profile(&blob[..len], "export pass").is_err(),
            "length {len}"
        );
    }
    let mut wrapped = Vault::create([21; 32])
        .wrap(Some("export pass"), FAST)
        .unwrap()
        .encode()
        .to_vec();
    wrapped.extend_from_slice(&[0; 64]);
    assert!(matches!(
        import_profile(&wrapped, "export pass"),
        Err(VaultError::Corrupt(_))
    ));
}

#[test]
fn oversized_store_names_are_refused_on_export() {
    let records = [Record {
        store: "s".repeat(256),
        key: Vec::new(),
        value: Vec::new(),
    }];
    assert_eq!(
        export_profile(&records, "export pass", FAST, [22; 32]).err(),
        Some(VaultError::TooLarge)
    );
}

/// `(store, key, value)`: proptest prints failing inputs, and `Record` is not `Debug`.
fn arb_record() -> impl Strategy<Value = (String, Vec<u8>, Vec<u8>)> {
    (
        "[a-z]{0,12}",
        prop::collection::vec(any::<u8>(), 0..40),
        prop::collection::vec(any::<u8>(), 0..200),
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn seal_open_round_trips(
        seed in any::<[u8; 32]>(),
        context in prop::collection::vec(any::<u8>(), 0..64),
        plaintext in prop::collection::vec(any::<u8>(), 0..2000),
    ) {
        let mut vault = Vault::create(seed);
        let sealed = vault.seal(&context, &plaintext).unwrap();
        prop_assert_eq!(vault.open(&context, &sealed).unwrap(), plaintext);
    }

    #[test]
    fn wrapped_keys_round_trip(seed in any::<[u8; 32]>(), passphrase in proptest::option::of(".{0,24}")) {
        // Any text after a strong start: the check is tested on its own.
        let passphrase = passphrase.map(|p| format!("wrapping key {p}"));
        let mut vault = Vault::create(seed);
        let bytes = vault.wrap(passphrase.as_deref(), FAST).unwrap().encode();
        let decoded = WrappedKey::decode(&bytes).unwrap();
        prop_assert_eq!(decoded.encode(), bytes);
        let unlocked = Vault::unlock(&decoded, passphrase.as_deref(), seed).unwrap();
        prop_assert!(same_key(&mut vault, &unlocked));
    }

    #[test]
    fn exports_round_trip(
        records in prop::collection::vec(arb_record(), 0..6),
        passphrase in ".{0,16}",
        seed in any::<[u8; 32]>(),
    ) {
        let records: Vec<Record> = records
            .into_iter()
            .map(|(store, key, value)| Record { store, key, value })
            .collect();
        let passphrase = format!("export pass {passphrase}");
        let blob = export_profile(&records, &passphrase, FAST, seed).unwrap();
        prop_assert!(import_profile(&blob, &passphrase).unwrap() == records);
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..200)) {
        let vault = Vault::create([0; 32]);
        let _ = vault.open(b"c", &bytes);
        if let Ok(wrapped) = WrappedKey::decode(&bytes) {
            prop_assert_eq!(&wrapped.encode()[..], &bytes[..]);
            let _ = Vault::unlock(&wrapped, Some("p"), [0; 32]);
        }
        let _ = import_profile(&bytes, "p");
    }
}

#[test]
fn weak_passphrases_are_refused_when_chosen_and_still_open_what_they_protect() {
    let mut vault = Vault::create([30; 32]);
    assert_eq!(
        vault.wrap(Some("hunter2"), FAST).err(),
        Some(VaultError::WeakPassphrase(WeakPassphrase::TooShort))
    );
    assert_eq!(
        export_profile(&sample_records(), "Password123!", FAST, [31; 32]).err(),
        Some(VaultError::WeakPassphrase(WeakPassphrase::Common))
    );
    // Unlocking takes whatever protected the key (pinned bytes: "pinned").
    let pinned = WrappedKey::decode(&unhex(PINNED_WRAPPED_KEY)).unwrap();
    assert!(Vault::unlock(&pinned, Some("pinned"), [0; 32]).is_ok());
}

#[test]
fn exports_cost_more_than_the_stored_key() {
    assert_eq!(
        KdfParams::EXPORT,
        KdfParams {
            m_cost_kib: 65_536,
            t_cost: 3,
            p_cost: 1
        }
    );
    assert!(KdfParams::EXPORT.check().is_ok());
    let work = |p: KdfParams| u64::from(p.m_cost_kib) * u64::from(p.t_cost);
    assert!(work(KdfParams::EXPORT) >= 5 * work(KdfParams::OWASP));
}

/// An export made before exports had their own costs (OWASP's, 19 MiB and 2 passes,
/// the stored key's) must keep importing: the file names its costs.
#[test]
fn an_export_with_the_older_costs_still_imports() {
    let bytes = unhex(PINNED_OWASP_EXPORT);
    assert_eq!(&bytes[1..15], EXPORT_MAGIC);
    assert_eq!(
        KdfParams::decode(&mut Reader::new(&bytes[15..])),
        Ok(KdfParams::OWASP)
    );
    assert!(import_profile(&bytes, "older export pass").unwrap() == sample_records());
}

const PINNED_OWASP_EXPORT: &str = "01636f6e6661622d70726f66696c6500004c00000000020000000185618366c2a0b0bfa8bb2e26a208b9f17f86d3724cde2b403ea63433fec858393ae0c13b12d321747164825947923ecd66aaeabd9dab1d802ff2c0d9d15828b45ef7d5ac8739076ef5dd4813ea9bf2f5327e7e34b3beb861ff2a0ed02bab4085c1f85a060fcfdf5a1cee2dc74aa3965d034e5afda0049ae40115ae67ccf40876ccd6d3f7f1ae9a3a64d24369167d178217205be160a76e40930bd4dd492d69207e14aaeba26a458ed6a6927cb6f4020b48de8c3685cc2b67b4cc5fbbf3c5b8c8fb6b64d88a274e91ebbea7c1b425b244480adc434fb3";
