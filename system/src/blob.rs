//! The one blob the root task embeds: a header, a table of images, the postcard-encoded
//! [`ImageConfig`], then the client ELF images, each at a 16-byte aligned offset (the ELF reader
//! needs aligned headers, so the blob itself must be embedded 16-byte aligned).
//!
//! Layout (little-endian): `MAGIC` (8 bytes), version `u32`, configuration length `u32`, image
//! count `u32`, 4 zero bytes; then per image its offset and length (`u64` each, from the start
//! of the blob); then the configuration; then the images. [`decode`] checks every length and
//! offset against the blob before use, so a damaged blob is an error, never a panic.
use crate::config::{ConfigError, ImageConfig};

/// First bytes of a blob.
pub const MAGIC: [u8; 8] = *b"MSSYSIMG";
/// Layout version written by [`encode`].
pub const VERSION: u32 = 1;
const HEADER: usize = 24;
const ENTRY: usize = 16;
/// Alignment of the blob and of every image in it.
pub const ALIGN: usize = 16;

/// Why a blob cannot be read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DecodeError {
    /// Shorter than its header or its image table.
    Truncated,
    BadMagic,
    /// Written by another layout version.
    Version(u32),
    /// The blob does not start 16-byte aligned.
    Misaligned,
    /// The configuration does not decode.
    Config,
    /// The configuration decodes but is not consistent.
    Inconsistent(ConfigError),
    /// Image `n`'s offset or length leaves the blob or is not aligned.
    Image(u32),
}

impl core::fmt::Display for DecodeError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::Truncated => write!(f, "system image truncated"),
            Self::BadMagic => write!(f, "not a system image (bad magic)"),
            Self::Version(v) => write!(f, "system image layout version {v}, expected {VERSION}"),
            Self::Misaligned => write!(f, "system image not embedded 16-byte aligned"),
            Self::Config => write!(f, "system configuration does not decode"),
            Self::Inconsistent(e) => write!(f, "system configuration inconsistent: {e:?}"),
            Self::Image(n) => write!(f, "image {n} lies outside the system image"),
        }
    }
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

fn u64_at(b: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_le_bytes(b.get(at..at + 8)?.try_into().ok()?))
}

/// The client images of a blob, by index.
#[derive(Clone, Copy, Debug)]
pub struct Images<'a> {
    blob: &'a [u8],
    count: u32,
}

impl<'a> Images<'a> {
    /// Number of images.
    pub fn len(&self) -> usize {
        self.count as usize
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Image `index` (16-byte aligned), or `None` past the end.
    pub fn get(&self, index: u32) -> Option<&'a [u8]> {
        if index >= self.count {
            return None;
        }
        let at = HEADER + index as usize * ENTRY;
        let off = usize::try_from(u64_at(self.blob, at)?).ok()?;
        let len = usize::try_from(u64_at(self.blob, at + 8)?).ok()?;
        self.blob.get(off..off.checked_add(len)?)
    }
}

/// Reads the configuration and the image table of `blob` (which must start 16-byte aligned).
pub fn decode(blob: &[u8]) -> Result<(ImageConfig, Images<'_>), DecodeError> {
    if !(blob.as_ptr() as usize).is_multiple_of(ALIGN) {
        return Err(DecodeError::Misaligned);
    }
    if blob.len() < HEADER {
        return Err(DecodeError::Truncated);
    }
    if blob[..8] != MAGIC {
        return Err(DecodeError::BadMagic);
    }
    let field = |at| u32_at(blob, at).ok_or(DecodeError::Truncated);
    let version = field(8)?;
    if version != VERSION {
        return Err(DecodeError::Version(version));
    }
    let config_len = field(12)? as usize;
    let count = field(16)?;
    let table_end = (count as usize)
        .checked_mul(ENTRY)
        .and_then(|t| t.checked_add(HEADER))
        .ok_or(DecodeError::Truncated)?;
    let config_end = table_end
        .checked_add(config_len)
        .ok_or(DecodeError::Truncated)?;
    let config_bytes = blob
        .get(table_end..config_end)
        .ok_or(DecodeError::Truncated)?;
    let config: ImageConfig =
        postcard::from_bytes(config_bytes).map_err(|_| DecodeError::Config)?;
    let images = Images { blob, count };
    for i in 0..count {
        let at = HEADER + i as usize * ENTRY;
        let off = u64_at(blob, at).ok_or(DecodeError::Truncated)?;
        let aligned = off % ALIGN as u64 == 0 && off >= config_end as u64;
        if !aligned || images.get(i).is_none() {
            return Err(DecodeError::Image(i));
        }
    }
    config
        .check(count as usize)
        .map_err(DecodeError::Inconsistent)?;
    Ok((config, images))
}

/// Writes the blob of `config` and `images` (the root task embeds it 16-byte aligned).
#[cfg(feature = "std")]
pub fn encode(config: &ImageConfig, images: &[&[u8]]) -> alloc::vec::Vec<u8> {
    use alloc::vec::Vec;
    let config_bytes = postcard::to_allocvec(config).expect("an ImageConfig always serializes");
    let count = u32::try_from(images.len()).expect("fewer than 2^32 images");
    let mut out = Vec::new();
    out.extend_from_slice(&MAGIC);
    out.extend_from_slice(&VERSION.to_le_bytes());
    let config_len = u32::try_from(config_bytes.len()).expect("configuration below 4 GiB");
    out.extend_from_slice(&config_len.to_le_bytes());
    out.extend_from_slice(&count.to_le_bytes());
    out.extend_from_slice(&[0; 4]);
    let table = out.len();
    out.resize(table + images.len() * ENTRY, 0);
    out.extend_from_slice(&config_bytes);
    for (i, image) in images.iter().enumerate() {
        out.resize(out.len().next_multiple_of(ALIGN), 0);
        let at = table + i * ENTRY;
        let offset = out.len() as u64;
        out[at..at + 8].copy_from_slice(&offset.to_le_bytes());
        out[at + 8..at + 16].copy_from_slice(&(image.len() as u64).to_le_bytes());
        out.extend_from_slice(image);
    }
    out
}

#[cfg(all(test, feature = "std"))]
mod tests {
    use super::*;
    use crate::config::{ClientConfig, Node, Quota, ServerOptions, Start};
    use alloc::string::String;
    use alloc::vec;

    fn config() -> ImageConfig {
        ImageConfig {
            cores: 1,
            nodes: vec![Node {
                start: 0x4000_0000,
                end: 0x8000_0000,
            }],
            core_node: vec![0],
            distance: vec![vec![10]],
            clients: vec![
                ClientConfig {
                    name: "a".into(),
                    image: 0,
                    cores: vec![0],
                    quota: Quota::UNLIMITED,
                    debug: "FZ".into(),
                    start: Start::AtBoot,
                    supervisor: true,
                },
                ClientConfig {
                    name: "b".into(),
                    image: 1,
                    cores: vec![0],
                    quota: Quota {
                        objects: 5,
                        bytes: 4096,
                        metadata_bytes: 1 << 20,
                    },
                    debug: String::new(),
                    start: Start::OnRequest,
                    supervisor: false,
                },
            ],
            server: ServerOptions::default(),
        }
    }

    fn with_aligned<R>(bytes: &[u8], f: impl FnOnce(&[u8]) -> R) -> R {
        // Find a 16-aligned window inside a buffer with slack.
        let mut buf = vec![0u8; bytes.len() + ALIGN];
        let off = (ALIGN - buf.as_ptr() as usize % ALIGN) % ALIGN;
        buf[off..off + bytes.len()].copy_from_slice(bytes);
        f(&buf[off..off + bytes.len()])
    }

    #[test]
    fn a_blob_round_trips_with_aligned_images() {
        let images: [&[u8]; 2] = [b"\x7fELF first image", b"second"];
        let blob = encode(&config(), &images);
        with_aligned(&blob, |b| {
            let (c, imgs) = decode(b).unwrap();
            assert_eq!(c, config());
            assert_eq!(imgs.len(), 2);
            assert_eq!(imgs.get(0).unwrap(), images[0]);
            assert_eq!(imgs.get(1).unwrap(), images[1]);
            assert_eq!(imgs.get(2), None);
            for i in 0..2 {
                assert_eq!(imgs.get(i).unwrap().as_ptr() as usize % ALIGN, 0);
            }
        });
    }

    #[test]
    fn damaged_blobs_are_errors() {
        let images: [&[u8]; 2] = [b"one", b"two"];
        let blob = encode(&config(), &images);
        with_aligned(&blob[..10], |b| {
            assert_eq!(decode(b).unwrap_err(), DecodeError::Truncated)
        });
        let mut bad = blob.clone();
        bad[0] ^= 1;
        with_aligned(&bad, |b| {
            assert_eq!(decode(b).unwrap_err(), DecodeError::BadMagic)
        });
        let mut bad = blob.clone();
        bad[8] = 2;
        with_aligned(&bad, |b| {
            assert_eq!(decode(b).unwrap_err(), DecodeError::Version(2))
        });
        let mut bad = blob.clone();
        bad[HEADER + ENTRY + 8] = 0xff; // image 1 longer than the blob
        with_aligned(&bad, |b| {
            assert_eq!(decode(b).unwrap_err(), DecodeError::Image(1))
        });
        let mut bad = blob.clone();
        bad[HEADER] += 1; // image 0 not aligned
        with_aligned(&bad, |b| {
            assert_eq!(decode(b).unwrap_err(), DecodeError::Image(0))
        });
        let mut bad = blob.clone();
        bad[16] = 1; // one image: client b names image 1
        with_aligned(&bad, |b| {
            assert!(matches!(
                decode(b).unwrap_err(),
                DecodeError::Inconsistent(_) | DecodeError::Config
            ))
        });
        // Every truncation is an error, never a panic.
        for n in 0..blob.len() {
            with_aligned(&blob[..n], |b| assert!(decode(b).is_err()));
        }
        // A misaligned start is refused.
        let mut buf = vec![0u8; blob.len() + ALIGN + 1];
        let off = (ALIGN - buf.as_ptr() as usize % ALIGN) % ALIGN + 1;
        buf[off..off + blob.len()].copy_from_slice(&blob);
        assert_eq!(
            decode(&buf[off..off + blob.len()]).unwrap_err(),
            DecodeError::Misaligned
        );
    }
}
