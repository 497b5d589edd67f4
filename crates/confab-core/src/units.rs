//! How sizes, speeds, durations and progress read to a person ("1.5 MB", "2.0 MB/s",
//! "1 min 5 s"): pure, so the app's views show them and native tests pin them.

/// `bytes` as a file manager shows it: decimal units, one decimal below 10.
pub fn format_bytes(bytes: u64) -> String {
    const LARGER: [&str; 4] = ["KB", "MB", "GB", "TB"];
    let mut value = bytes as f64;
    let mut unit = None;
    for larger in LARGER {
        if value < 1000.0 {
            break;
        }
        value /= 1000.0;
        unit = Some(larger);
    }
    match unit {
        None => format!("{bytes} B"),
        Some(unit) if value < 10.0 => format!("{value:.1} {unit}"),
        Some(unit) => format!("{value:.0} {unit}"),
    }
}

/// A transfer speed ("2.0 MB/s"); "starting…" before anything was measured.
pub fn format_speed(bytes_per_sec: f64) -> String {
    if bytes_per_sec <= 0.0 {
        "starting…".to_owned()
    } else {
        format!("{}/s", format_bytes(bytes_per_sec as u64))
    }
}

/// A time left ("45 s", "1 min 5 s", "2 h 3 min"), rounded up to the second.
pub fn format_duration(secs: f64) -> String {
    let secs = secs.ceil() as u64;
    match secs {
        0..=59 => format!("{secs} s"),
        60..=3599 => format!("{} min {} s", secs / 60, secs % 60),
        _ => format!("{} h {} min", secs / 3600, (secs % 3600) / 60),
    }
}

/// `done` of `total` in whole percent (100 for an empty total).
pub fn percent(done: u64, total: u64) -> u64 {
    done.saturating_mul(100).checked_div(total).unwrap_or(100)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_like_a_file_manager() {
        assert_eq!(format_bytes(12), "12 B");
        assert_eq!(format_bytes(1_500_000), "1.5 MB");
        assert_eq!(format_bytes(52_428_800), "52 MB");
        assert_eq!(format_bytes(999), "999 B");
        assert_eq!(format_bytes(u64::MAX), "18446744 TB");
    }

    #[test]
    fn speeds_and_times_left() {
        assert_eq!(format_speed(0.0), "starting…");
        assert_eq!(format_speed(2_000_000.0), "2.0 MB/s");
        assert_eq!(format_duration(0.2), "1 s");
        assert_eq!(format_duration(65.0), "1 min 5 s");
        assert_eq!(format_duration(7380.0), "2 h 3 min");
    }

    #[test]
    fn percent_of_nothing_is_done() {
        assert_eq!(percent(50, 200), 25);
        assert_eq!(percent(0, 0), 100);
        let largest = crate::transfer::MAX_FILE_SIZE;
        assert_eq!(percent(largest - 1, largest), 99);
    }
}
