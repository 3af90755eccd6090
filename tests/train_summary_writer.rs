//! `SummaryWriter` writes TensorBoard event files: read them back with a decoder written here from the format's
//! description (TFRecord framing, masked CRC32C, the protobuf wire format), independent of the crates the writer
//! uses.

use std::path::{Path, PathBuf};

use candlelit::prelude::*;

// ---- an independent reader -------------------------------------------------------------------------------------

/// CRC32C bit by bit (reflected polynomial 0x82F63B78), the slow textbook way.
fn crc32c(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in bytes {
        crc ^= b as u32;
        for _ in 0..8 {
            crc = if crc & 1 == 1 { (crc >> 1) ^ 0x82F6_3B78 } else { crc >> 1 };
        }
    }
    !crc
}

/// The mask spelled out as the TFRecord format states it (the writer uses `rotate_right`).
#[allow(clippy::manual_rotate)]
fn masked(bytes: &[u8]) -> u32 {
    let crc = crc32c(bytes);
    ((crc >> 15) | (crc << 17)).wrapping_add(0xa282_ead8)
}

/// Splits a file into its records' data, checking both CRCs of each.
fn records(bytes: &[u8]) -> std::result::Result<Vec<Vec<u8>>, String> {
    let mut out = Vec::new();
    let mut at = 0;
    while at < bytes.len() {
        let header = bytes.get(at..at + 12).ok_or(format!("record at {at}: header cut short"))?;
        let (length, length_crc) = header.split_at(8);
        if masked(length) != u32::from_le_bytes(length_crc.try_into().unwrap()) {
            return Err(format!("record at {at}: bad length CRC"));
        }
        let n = u64::from_le_bytes(length.try_into().unwrap()) as usize;
        let data = bytes.get(at + 12..at + 12 + n).ok_or(format!("record at {at}: data cut short"))?;
        let data_crc = bytes.get(at + 12 + n..at + 16 + n).ok_or(format!("record at {at}: data CRC cut short"))?;
        if masked(data) != u32::from_le_bytes(data_crc.try_into().unwrap()) {
            return Err(format!("record at {at}: bad data CRC"));
        }
        out.push(data.to_vec());
        at += 16 + n;
    }
    Ok(out)
}

/// A protobuf field's value, by wire type.
#[derive(Debug, Clone)]
enum Field {
    Varint(u64),
    Fixed64([u8; 8]),
    Bytes(Vec<u8>),
    Fixed32([u8; 4]),
}

fn varint(bytes: &[u8], at: &mut usize) -> u64 {
    let mut value = 0u64;
    for shift in (0..64).step_by(7) {
        let b = bytes[*at];
        *at += 1;
        value |= ((b & 0x7f) as u64) << shift;
        if b & 0x80 == 0 {
            return value;
        }
    }
    panic!("varint longer than 10 bytes");
}

/// The (field number, value) pairs of one message.
fn fields(bytes: &[u8]) -> Vec<(u64, Field)> {
    let mut out = Vec::new();
    let mut at = 0;
    while at < bytes.len() {
        let key = varint(bytes, &mut at);
        let field = match key & 7 {
            0 => Field::Varint(varint(bytes, &mut at)),
            1 => {
                at += 8;
                Field::Fixed64(bytes[at - 8..at].try_into().unwrap())
            }
            2 => {
                let n = varint(bytes, &mut at) as usize;
                at += n;
                Field::Bytes(bytes[at - n..at].to_vec())
            }
            5 => {
                at += 4;
                Field::Fixed32(bytes[at - 4..at].try_into().unwrap())
            }
            wire => panic!("unexpected wire type {wire}"),
        };
        out.push((key >> 3, field));
    }
    out
}

/// What an event holds.
#[derive(Debug, Clone, PartialEq)]
enum What {
    FileVersion(String),
    Scalars(Vec<(String, f32)>),
}

#[derive(Debug, Clone, PartialEq)]
struct Event {
    wall_time: f64,
    step: i64,
    what: What,
}

fn decode_event(bytes: &[u8]) -> Event {
    let (mut wall_time, mut step, mut what) = (0.0, 0, None);
    for (number, field) in fields(bytes) {
        match (number, field) {
            (1, Field::Fixed64(b)) => wall_time = f64::from_le_bytes(b),
            (2, Field::Varint(v)) => step = v as i64,
            (3, Field::Bytes(b)) => what = Some(What::FileVersion(String::from_utf8(b).unwrap())),
            (5, Field::Bytes(summary)) => {
                let mut values = Vec::new();
                for (number, value) in fields(&summary) {
                    let (1, Field::Bytes(value)) = (number, value) else { panic!("Summary field {number}") };
                    let (mut tag, mut simple) = (None, None);
                    for (number, f) in fields(&value) {
                        match (number, f) {
                            (1, Field::Bytes(b)) => tag = Some(String::from_utf8(b).unwrap()),
                            (2, Field::Fixed32(b)) => simple = Some(f32::from_le_bytes(b)),
                            (n, f) => panic!("unexpected Summary.Value field {n}: {f:?}"),
                        }
                    }
                    // `simple_value` is in a oneof: TensorBoard skips a Value without it, so 0.0 must be written too.
                    values.push((tag.expect("a tag"), simple.expect("simple_value is present")));
                }
                what = Some(What::Scalars(values));
            }
            (n, f) => panic!("unexpected Event field {n}: {f:?}"),
        }
    }
    Event { wall_time, step, what: what.expect("an event with file_version or summary") }
}

fn read_events(path: &Path) -> Vec<Event> {
    let bytes = std::fs::read(path).unwrap();
    records(&bytes).unwrap().iter().map(|r| decode_event(r)).collect()
}

fn event_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.file_name().unwrap().to_string_lossy().starts_with("events.out.tfevents."))
        .collect();
    files.sort();
    files
}

/// `(tag, step, value)` of every scalar in a file, in order.
fn scalars(events: &[Event]) -> Vec<(String, i64, f32)> {
    events
        .iter()
        .filter_map(|e| match &e.what {
            What::Scalars(values) => Some(values.iter().map(|(t, v)| (t.clone(), e.step, *v)).collect::<Vec<_>>()),
            What::FileVersion(_) => None,
        })
        .flatten()
        .collect()
}

// ---- the tests -------------------------------------------------------------------------------------------------

#[test]
fn crc32c_of_the_decoder_matches_the_published_check_value() {
    // The "check" value of CRC-32C (iSCSI) in the catalogue of CRC parameters, and RFC 3720's 32 zero bytes.
    assert_eq!(crc32c(b"123456789"), 0xE306_9283);
    assert_eq!(crc32c(&[0u8; 32]), 0x8A91_36AA);
}

#[test]
fn scalars_read_back_with_tags_steps_and_values() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("runs").join("mlp");
    let before = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs_f64();
    let mut writer = SummaryWriter::new(&dir).unwrap();
    assert!(dir.is_dir(), "the folder and its parents are created");
    let expected: Vec<(String, i64, f32)> = (0..50usize)
        .flat_map(|step| {
            let loss = (-(step as f64) / 10.0).exp();
            [("loss/train".to_string(), step as i64, loss as f32), ("lr".to_string(), step as i64, 0.1)]
        })
        .collect();
    for step in 0..50 {
        writer.add_scalar("loss/train", (-(step as f64) / 10.0).exp(), step).unwrap();
        writer.add_scalar("lr", 0.1f32, step).unwrap();
    }
    writer.add_scalar("big step", -2.5, 1 << 40).unwrap();
    writer.add_scalar("zero", 0.0, 3).unwrap();
    let path = writer.path().to_path_buf();

    // Each add_scalar writes through: the file is complete before the writer goes away.
    let events = read_events(&path);
    drop(writer);
    assert_eq!(read_events(&path), events, "dropping adds nothing after the writes were flushed");

    assert_eq!(event_files(&dir), vec![path.clone()]);
    let name = path.file_name().unwrap().to_string_lossy().to_string();
    let parts: Vec<&str> = name.strip_prefix("events.out.tfevents.").unwrap().split('.').collect();
    let secs: u64 = parts[0].parse().unwrap();
    assert_eq!(parts[0].len(), 10, "seconds are written with 10 digits: {name}");
    assert!((secs as f64 - before).abs() < 60.0, "{name}");
    assert!(parts.last().unwrap().parse::<u32>().is_ok(), "ends with a counter: {name}");
    assert_eq!(parts[parts.len() - 2], std::process::id().to_string(), "then the pid: {name}");

    assert_eq!(events[0].what, What::FileVersion("brain.Event:2".to_string()));
    assert_eq!(events[0].step, 0);
    assert_eq!(events.len(), 1 + 100 + 2);
    let got = scalars(&events);
    assert_eq!(&got[..100], &expected[..]);
    assert_eq!(got[100], ("big step".to_string(), 1 << 40, -2.5));
    assert_eq!(got[101], ("zero".to_string(), 3, 0.0));
    let after = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs_f64();
    for pair in events.windows(2) {
        assert!(pair[0].wall_time <= pair[1].wall_time, "wall times never go back");
    }
    assert!(events.iter().all(|e| e.wall_time >= before - 1.0 && e.wall_time <= after + 1.0));
}

#[test]
fn add_scalars_writes_one_run_per_name_under_the_main_tag() {
    let tmp = tempfile::tempdir().unwrap();
    let run = tmp.path().join("run");
    {
        let mut writer = SummaryWriter::new(&run).unwrap();
        for epoch in 0..3 {
            let e = epoch as f64;
            writer.add_scalars("loss/epoch", &[("train", 1.0 - 0.1 * e), ("val", 1.5 - 0.1 * e)], epoch).unwrap();
        }
        writer.add_scalar("accuracy", 0.75, 2).unwrap();
    }
    let main = event_files(&run);
    assert_eq!(main.len(), 1);
    assert_eq!(scalars(&read_events(&main[0])), vec![("accuracy".to_string(), 2, 0.75)]);
    for (name, start) in [("loss_epoch_train", 1.0), ("loss_epoch_val", 1.5)] {
        let files = event_files(&run.join(name));
        assert_eq!(files.len(), 1, "{name}");
        let events = read_events(&files[0]);
        assert_eq!(events[0].what, What::FileVersion("brain.Event:2".to_string()));
        let want: Vec<_> = (0..3).map(|e| ("loss/epoch".to_string(), e, (start - 0.1 * e as f64) as f32)).collect();
        assert_eq!(scalars(&events), want, "{name}");
    }
}

#[test]
fn two_writers_on_one_folder_get_two_files() {
    let tmp = tempfile::tempdir().unwrap();
    let a = SummaryWriter::new(tmp.path()).unwrap();
    let b = SummaryWriter::new(tmp.path()).unwrap();
    assert_ne!(a.path(), b.path());
    assert_eq!(event_files(tmp.path()).len(), 2);
}

#[test]
fn a_corrupted_byte_is_detected() {
    let tmp = tempfile::tempdir().unwrap();
    let mut writer = SummaryWriter::new(tmp.path()).unwrap();
    writer.add_scalar("loss", 0.5, 7).unwrap();
    let path = writer.path().to_path_buf();
    writer.close().unwrap();
    let good = std::fs::read(&path).unwrap();
    assert!(records(&good).is_ok());
    // Flip one bit in each byte in turn: every single-bit error is caught by one of the two CRCs.
    for i in 0..good.len() {
        let mut bad = good.clone();
        bad[i] ^= 0x04;
        assert!(records(&bad).is_err(), "a flipped bit at byte {i} of {} went unnoticed", good.len());
    }
    // A file cut short is caught too.
    assert!(records(&good[..good.len() - 1]).is_err());
}

#[test]
fn a_folder_under_a_regular_file_gives_an_error_that_says_what_to_do() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("not-a-folder");
    std::fs::write(&file, b"x").unwrap();
    let err = SummaryWriter::new(file.join("run")).unwrap_err().to_string();
    assert!(err.contains("could not create the log folder"), "{err}");
    assert!(err.contains(&file.join("run").display().to_string()), "names the path: {err}");
    assert!(err.contains("pick a folder you can write to"), "says what to do: {err}");
}

#[test]
fn empty_tags_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let mut writer = SummaryWriter::new(tmp.path()).unwrap();
    let err = writer.add_scalar("", 1.0, 0).unwrap_err().to_string();
    assert!(err.contains("tag is empty"), "{err}");
    let err = writer.add_scalars("loss", &[("", 1.0)], 0).unwrap_err().to_string();
    assert!(err.contains("a name is empty"), "{err}");
    let path = writer.path().to_path_buf();
    drop(writer);
    assert_eq!(read_events(&path).len(), 1, "nothing but the file_version event was written");
}
