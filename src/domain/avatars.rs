//! Avatar images: sniffed by their bytes (never by the declared type),
//! decoded under limits set before decoding (so a "decompression bomb"
//! fails cheaply), cropped square and re-encoded as a fresh 256×256 PNG,
//! which drops metadata and anything smuggled after the image data.

use std::io::Cursor;

use image::{DynamicImage, ImageFormat, ImageReader, Limits, Rgba, RgbaImage};
use sha2::{Digest, Sha256};

pub const MAX_BYTES: usize = 2 * 1024 * 1024;
pub const MAX_SIDE: u32 = 4096;
pub const SIZE: u32 = 256;
/// Decoder memory cap: a 4096×4096 RGBA frame is 64 MiB; leave headroom for
/// the decoder's own buffers and nothing more.
const MAX_ALLOC: u64 = 96 * 1024 * 1024;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AvatarError {
    #[error("the image must be PNG, JPEG, WebP or GIF")]
    UnsupportedType,
    #[error("the image is larger than {MAX_SIDE}×{MAX_SIDE} pixels")]
    TooLarge,
    #[error("the image could not be decoded: {0}")]
    Invalid(String),
}

/// A processed avatar: PNG bytes and their content-addressed file name.
pub struct Avatar {
    pub png: Vec<u8>,
    pub name: String,
}

/// The formats accepted, by magic bytes.
fn sniff(bytes: &[u8]) -> Option<ImageFormat> {
    match image::guess_format(bytes).ok()? {
        f @ (ImageFormat::Png | ImageFormat::Jpeg | ImageFormat::WebP | ImageFormat::Gif) => {
            Some(f)
        }
        _ => None,
    }
}

pub fn process(bytes: &[u8]) -> Result<Avatar, AvatarError> {
    let format = sniff(bytes).ok_or(AvatarError::UnsupportedType)?;
    let mut reader = ImageReader::with_format(Cursor::new(bytes), format);
    let mut limits = Limits::default();
    limits.max_image_width = Some(MAX_SIDE);
    limits.max_image_height = Some(MAX_SIDE);
    limits.max_alloc = Some(MAX_ALLOC);
    reader.limits(limits);
    // For a GIF this is the first frame.
    let image = reader.decode().map_err(|e| match e {
        image::ImageError::Limits(_) => AvatarError::TooLarge,
        other => AvatarError::Invalid(other.to_string()),
    })?;
    let square = crop_square(image).resize_exact(SIZE, SIZE, image::imageops::FilterType::Lanczos3);
    let png = encode_png(&DynamicImage::ImageRgba8(square.to_rgba8()));
    Ok(Avatar {
        name: format!("{}.png", hex::encode(Sha256::digest(&png))),
        png,
    })
}

fn crop_square(image: DynamicImage) -> DynamicImage {
    let (w, h) = (image.width(), image.height());
    let side = w.min(h);
    image.crop_imm((w - side) / 2, (h - side) / 2, side, side)
}

fn encode_png(image: &DynamicImage) -> Vec<u8> {
    let mut out = Cursor::new(Vec::new());
    // Writing a valid in-memory RGBA image as PNG cannot fail.
    image
        .write_to(&mut out, ImageFormat::Png)
        .unwrap_or_default();
    out.into_inner()
}

/// Whether `name` is a name [`process`] could have made (so a path built
/// from it stays inside the avatar directory).
pub fn is_avatar_name(name: &str) -> bool {
    name.strip_suffix(".png").is_some_and(|hash| {
        hash.len() == 64
            && hash
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    })
}

/// The default avatar of a user: a symmetric 5×5 identicon in a colour
/// derived from `seed` (the user id), 256×256 PNG. Same seed, same image.
pub fn identicon(seed: i64) -> Vec<u8> {
    let hash = Sha256::digest(seed.to_be_bytes());
    let colour = Rgba([hash[0] / 2 + 64, hash[1] / 2 + 64, hash[2] / 2 + 64, 255]);
    let background = Rgba([240, 240, 240, 255]);
    let cell = SIZE / 8; // a 5×5 grid with a margin
    let margin = (SIZE - 5 * cell) / 2;
    let mut img = RgbaImage::from_pixel(SIZE, SIZE, background);
    for row in 0..5u32 {
        for col in 0..3u32 {
            let bit = hash[3 + (row * 3 + col) as usize] & 1 == 1;
            if !bit {
                continue;
            }
            for mirrored in [col, 4 - col] {
                let (x0, y0) = (margin + mirrored * cell, margin + row * cell);
                for y in y0..y0 + cell {
                    for x in x0..x0 + cell {
                        img.put_pixel(x, y, colour);
                    }
                }
            }
        }
    }
    encode_png(&DynamicImage::ImageRgba8(img))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn png(w: u32, h: u32) -> Vec<u8> {
        encode_png(&DynamicImage::ImageRgba8(RgbaImage::from_pixel(
            w,
            h,
            Rgba([10, 200, 30, 255]),
        )))
    }

    #[test]
    fn re_encodes_to_a_square_png_with_a_content_name() {
        let avatar = process(&png(300, 100)).unwrap();
        let out = image::load_from_memory(&avatar.png).unwrap();
        assert_eq!((out.width(), out.height()), (SIZE, SIZE));
        assert!(is_avatar_name(&avatar.name));
        assert_eq!(process(&png(300, 100)).unwrap().name, avatar.name);
    }

    #[test]
    fn refuses_what_is_not_an_accepted_image() {
        let svg = br#"<svg xmlns="http://www.w3.org/2000/svg"></svg>"#;
        assert_eq!(process(svg).err(), Some(AvatarError::UnsupportedType));
        assert_eq!(process(b"GIF").err(), Some(AvatarError::UnsupportedType));
        let bmp = b"BM\x00\x00\x00\x00";
        assert_eq!(process(bmp).err(), Some(AvatarError::UnsupportedType));
        let mut truncated = png(64, 64);
        truncated.truncate(40);
        assert!(matches!(process(&truncated), Err(AvatarError::Invalid(_))));
    }

    #[test]
    fn names_are_checked() {
        assert!(is_avatar_name(&format!("{}.png", "a".repeat(64))));
        assert!(!is_avatar_name("../../etc/passwd"));
        assert!(!is_avatar_name(&format!("{}.png", "A".repeat(64))));
    }

    #[test]
    fn identicons_are_deterministic_pngs() {
        let a = identicon(7);
        assert_eq!(a, identicon(7));
        assert_ne!(a, identicon(8));
        let img = image::load_from_memory_with_format(&a, ImageFormat::Png).unwrap();
        assert_eq!(img.width(), SIZE);
    }
}
