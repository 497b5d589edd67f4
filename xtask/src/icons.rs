//! `cargo xtask icons`: draws the app icons the web app manifest names
//! (`assets/icons/`) from the geometry of `assets/favicon.svg`: a blue rounded
//! square with a white diamond and a blue diamond inside it. The PNGs are
//! committed; a unit test checks they still match what this code draws.
//!
//! - `icon-192.png`, `icon-512.png`: the rounded square on transparency.
//! - `icon-maskable-512.png`: full-bleed blue (the platform cuts its own
//!   shape); the diamond stays inside the central 80% safe zone.
//! - `icon.svg`: a copy of `assets/favicon.svg` under a name that never changes
//!   (Trunk hashes the favicon's).

use std::{fs, io::Write, path::Path};

use anyhow::{Context, Result, ensure};
use flate2::{Compression, write::ZlibEncoder};

/// The icons: file name, size in pixels, maskable.
pub(crate) const ICONS: &[(&str, u32, bool)] = &[
    ("icon-192.png", 192, false),
    ("icon-512.png", 512, false),
    ("icon-maskable-512.png", 512, true),
];

const BLUE: [u8; 3] = [0x35, 0x58, 0xd6];
const WHITE: [u8; 3] = [0xff, 0xff, 0xff];
/// Samples per pixel along each axis (anti-aliasing).
const SUPERSAMPLE: u32 = 4;

/// Writes every icon into `<root>/assets/icons/`.
pub(crate) fn run(root: &Path) -> Result<()> {
    let dir = root.join("assets").join("icons");
    fs::create_dir_all(&dir)?;
    for &(name, size, maskable) in ICONS {
        let png = encode_png(size, size, &draw(size, maskable))?;
        fs::write(dir.join(name), png)?;
        println!("icons: wrote assets/icons/{name}");
    }
    fs::copy(
        root.join("assets").join("favicon.svg"),
        dir.join("icon.svg"),
    )
    .context("copying assets/favicon.svg")?;
    println!("icons: wrote assets/icons/icon.svg");
    Ok(())
}

/// Straight-alpha RGBA pixels, row by row, of the icon at `size` × `size`.
pub(crate) fn draw(size: u32, maskable: bool) -> Vec<u8> {
    let mut pixels = Vec::with_capacity((size * size * 4) as usize);
    let samples = (SUPERSAMPLE * SUPERSAMPLE) as f64;
    for py in 0..size {
        for px in 0..size {
            let (mut red, mut green, mut blue, mut alpha) = (0.0, 0.0, 0.0, 0.0);
            for sy in 0..SUPERSAMPLE {
                for sx in 0..SUPERSAMPLE {
                    // The sample's place in the favicon's 64 × 64 viewBox.
                    let x =
                        (px as f64 + (sx as f64 + 0.5) / SUPERSAMPLE as f64) * 64.0 / size as f64;
                    let y =
                        (py as f64 + (sy as f64 + 0.5) / SUPERSAMPLE as f64) * 64.0 / size as f64;
                    if let Some(color) = color_at(x, y, maskable) {
                        red += color[0] as f64;
                        green += color[1] as f64;
                        blue += color[2] as f64;
                        alpha += 1.0;
                    }
                }
            }
            if alpha == 0.0 {
                pixels.extend_from_slice(&[0, 0, 0, 0]);
            } else {
                pixels.extend_from_slice(&[
                    (red / alpha).round() as u8,
                    (green / alpha).round() as u8,
                    (blue / alpha).round() as u8,
                    (alpha / samples * 255.0).round() as u8,
                ]);
            }
        }
    }
    pixels
}

/// The favicon's colour at `(x, y)` of its viewBox, `None` where it is transparent.
fn color_at(x: f64, y: f64, maskable: bool) -> Option<[u8; 3]> {
    if !maskable && !in_rounded_square(x, y, 64.0, 14.0) {
        return None;
    }
    let diamond = (x - 32.0).abs() + (y - 32.0).abs();
    Some(if diamond <= 10.0 {
        BLUE
    } else if diamond <= 22.0 {
        WHITE
    } else {
        BLUE
    })
}

fn in_rounded_square(x: f64, y: f64, side: f64, radius: f64) -> bool {
    if !(0.0..=side).contains(&x) || !(0.0..=side).contains(&y) {
        return false;
    }
    let cx = x.clamp(radius, side - radius);
    let cy = y.clamp(radius, side - radius);
    (x - cx).powi(2) + (y - cy).powi(2) <= radius * radius
}

/// A PNG of 8-bit RGBA `pixels` (no filtering, zlib at its best level).
pub(crate) fn encode_png(width: u32, height: u32, pixels: &[u8]) -> Result<Vec<u8>> {
    ensure!(
        pixels.len() == (width * height * 4) as usize,
        "{} bytes for a {width} × {height} RGBA image",
        pixels.len()
    );
    let mut raw = Vec::with_capacity(pixels.len() + height as usize);
    for row in pixels.chunks(width as usize * 4) {
        raw.push(0); // filter: none
        raw.extend_from_slice(row);
    }
    let mut zlib = ZlibEncoder::new(Vec::new(), Compression::best());
    zlib.write_all(&raw)?;
    let mut header = Vec::new();
    header.extend_from_slice(&width.to_be_bytes());
    header.extend_from_slice(&height.to_be_bytes());
    header.extend_from_slice(&[8, 6, 0, 0, 0]); // 8-bit, RGBA, deflate, no filter, no interlace
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    chunk(&mut png, b"IHDR", &header);
    chunk(&mut png, b"IDAT", &zlib.finish()?);
    chunk(&mut png, b"IEND", &[]);
    Ok(png)
}

fn chunk(png: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
    png.extend_from_slice(&(data.len() as u32).to_be_bytes());
    png.extend_from_slice(kind);
    png.extend_from_slice(data);
    let mut crc_input = kind.to_vec();
    crc_input.extend_from_slice(data);
    png.extend_from_slice(&crc32(&crc_input).to_be_bytes());
}

/// CRC-32 (IEEE), as PNG chunks use it.
fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = 0xffff_ffff_u32;
    for &byte in bytes {
        crc ^= byte as u32;
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xedb8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// Width, height and RGBA pixels of a PNG that [`encode_png`] wrote (8-bit RGBA,
/// unfiltered rows); anything else is refused. For the tests.
#[cfg(test)]
pub(crate) fn decode_png(png: &[u8]) -> Result<(u32, u32, Vec<u8>)> {
    use std::io::Read as _;
    ensure!(png.starts_with(b"\x89PNG\r\n\x1a\n"), "not a PNG");
    let (mut pos, mut size, mut idat) = (8, None, Vec::new());
    while pos + 12 <= png.len() {
        let len = u32::from_be_bytes(png[pos..pos + 4].try_into()?) as usize;
        let kind = &png[pos + 4..pos + 8];
        let Some(data) = png.get(pos + 8..pos + 8 + len) else {
            anyhow::bail!("truncated chunk")
        };
        let crc = u32::from_be_bytes(png[pos + 8 + len..pos + 12 + len].try_into()?);
        ensure!(crc == crc32(&png[pos + 4..pos + 8 + len]), "bad CRC");
        match kind {
            b"IHDR" => {
                ensure!(data[8..13] == [8, 6, 0, 0, 0], "not 8-bit RGBA");
                size = Some((
                    u32::from_be_bytes(data[0..4].try_into()?),
                    u32::from_be_bytes(data[4..8].try_into()?),
                ));
            }
            b"IDAT" => idat.extend_from_slice(data),
            _ => {}
        }
        pos += 12 + len;
    }
    let Some((width, height)) = size else {
        anyhow::bail!("no IHDR")
    };
    let mut raw = Vec::new();
    flate2::read::ZlibDecoder::new(&idat[..]).read_to_end(&mut raw)?;
    let stride = width as usize * 4 + 1;
    ensure!(raw.len() == stride * height as usize, "wrong pixel count");
    let mut pixels = Vec::with_capacity(width as usize * height as usize * 4);
    for row in raw.chunks(stride) {
        ensure!(row[0] == 0, "filtered row");
        pixels.extend_from_slice(&row[1..]);
    }
    Ok((width, height, pixels))
}

#[cfg(test)]
mod tests {
    use super::{ICONS, decode_png, draw, encode_png};

    fn pixel(pixels: &[u8], size: u32, x: u32, y: u32) -> [u8; 4] {
        let at = ((y * size + x) * 4) as usize;
        pixels[at..at + 4].try_into().unwrap()
    }

    #[test]
    fn committed_icons_match_the_drawing() {
        let dir = crate::project_root().join("assets").join("icons");
        for &(name, size, maskable) in ICONS {
            let png = std::fs::read(dir.join(name))
                .unwrap_or_else(|e| panic!("assets/icons/{name}: {e}: run `cargo xtask icons`"));
            let (width, height, pixels) = decode_png(&png).unwrap();
            assert_eq!((width, height), (size, size), "{name}");
            assert!(
                pixels == draw(size, maskable),
                "assets/icons/{name} differs from the drawing: run `cargo xtask icons`"
            );
        }
        let svg = std::fs::read(dir.join("icon.svg")).unwrap();
        let favicon = std::fs::read(crate::project_root().join("assets/favicon.svg")).unwrap();
        assert_eq!(
            svg, favicon,
            "assets/icons/icon.svg: run `cargo xtask icons`"
        );
    }

    #[test]
    fn the_drawing_has_the_favicon_shapes() {
        let size = 64;
        let plain = draw(size, false);
        let maskable = draw(size, true);
        // Corners: cut off in the plain icon, full-bleed blue in the maskable one.
        assert_eq!(pixel(&plain, size, 0, 0)[3], 0);
        assert_eq!(pixel(&maskable, size, 0, 0), [0x35, 0x58, 0xd6, 255]);
        // Centre blue, the diamond's ring white, the edge's middle blue, all opaque.
        for pixels in [&plain, &maskable] {
            assert_eq!(pixel(pixels, size, 32, 32), [0x35, 0x58, 0xd6, 255]);
            assert_eq!(pixel(pixels, size, 32, 16), [255, 255, 255, 255]);
            assert_eq!(pixel(pixels, size, 32, 4), [0x35, 0x58, 0xd6, 255]);
        }
        // An edge pixel of the rounded corner is partly covered (anti-aliased).
        let edge = pixel(&plain, size, 3, 4)[3];
        assert!(edge > 0 && edge < 255, "{edge}");
    }

    #[test]
    fn png_round_trips_and_is_deterministic() {
        let pixels: Vec<u8> = (0..3 * 2 * 4).map(|n| n as u8 * 7).collect();
        let png = encode_png(3, 2, &pixels).unwrap();
        assert_eq!(&png[1..4], b"PNG");
        assert_eq!(decode_png(&png).unwrap(), (3, 2, pixels.clone()));
        assert_eq!(png, encode_png(3, 2, &pixels).unwrap());
        assert!(encode_png(3, 3, &pixels).is_err());
        let mut broken = png.clone();
        broken[20] ^= 1;
        assert!(decode_png(&broken).is_err());
    }

    #[test]
    fn crc_matches_the_png_specification() {
        // The CRC of an empty IEND chunk, as every PNG ends.
        assert_eq!(super::crc32(b"IEND"), 0xae42_6082);
    }
}
