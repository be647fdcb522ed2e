//! Variable data in the IPC buffer: a word holding the byte length, then the bytes (postcard-encoded
//! values) packed into words, the last one zero-padded. Decoding insists on the exact word count and
//! zero padding, so a message is either well-formed or rejected with `BadPayload`/`BadLength`.
use crate::{Error, Failure};
use serde::{Deserialize, Serialize};
use zerocopy::IntoBytes;

/// Longest cache name in bytes.
pub const MAX_NAME_LEN: usize = 32;

/// Words needed to carry `bytes` bytes (length word included).
pub const fn words_for(bytes: usize) -> usize {
    1 + bytes.div_ceil(8)
}

/// Bytes that fit in `words` words of variable data.
pub const fn capacity(words: usize) -> usize {
    words.saturating_sub(1) * 8
}

/// Frames `bytes` into `words`; returns the words used, or `None` if they do not fit.
pub fn write_bytes(words: &mut [u64], bytes: &[u8]) -> Option<usize> {
    let used = words_for(bytes.len());
    let area = words.get_mut(..used)?;
    area[used - 1] = 0;
    area[0] = bytes.len() as u64;
    area[1..].as_mut_bytes()[..bytes.len()].copy_from_slice(bytes);
    Some(used)
}

/// The framed bytes of `words`, which must be exactly the frame.
pub fn read_bytes(words: &[u64]) -> Result<&[u8], Failure> {
    let (&len, rest) = words
        .split_first()
        .ok_or(Failure::with(Error::BadLength, [1, 0, 0]))?;
    let len = usize::try_from(len).map_err(|_| Failure::new(Error::BadPayload))?;
    if len > capacity(crate::MSG_MAX_WORDS) {
        return Err(Failure::with(Error::BadPayload, [len as u64, 0, 0]));
    }
    if words.len() != words_for(len) {
        return Err(Failure::with(
            Error::BadLength,
            [words_for(len) as u64, words.len() as u64, 0],
        ));
    }
    let bytes = rest.as_bytes();
    if bytes[len..].iter().any(|&b| b != 0) {
        return Err(Failure::new(Error::BadPayload));
    }
    Ok(&bytes[..len])
}

/// Postcard-encodes `value` into a frame in `words`; `None` if it does not fit.
pub fn write_value<T: Serialize>(words: &mut [u64], value: &T) -> Option<usize> {
    let (len_word, rest) = words.split_first_mut()?;
    let len = postcard::to_slice(value, rest.as_mut_bytes()).ok()?.len();
    *len_word = len as u64;
    let used = words_for(len);
    let pad = &mut words[1..used].as_mut_bytes()[len..];
    pad.fill(0);
    Some(used)
}

/// Decodes exactly one postcard value from a frame (no trailing bytes).
pub fn read_value<'a, T: Deserialize<'a>>(words: &'a [u64]) -> Result<T, Failure> {
    let bytes = read_bytes(words)?;
    match postcard::take_from_bytes::<T>(bytes) {
        Ok((value, [])) => Ok(value),
        _ => Err(Failure::new(Error::BadPayload)),
    }
}

/// Checks a cache name: 1..=[`MAX_NAME_LEN`] bytes of printable ASCII without spaces, so that a
/// slabinfo row stays one whitespace-separated field.
pub fn check_name(name: &str) -> Result<(), Failure> {
    if name.is_empty() || name.len() > MAX_NAME_LEN || !name.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(Failure::with(Error::BadName, [name.len() as u64, 0, 0]));
    }
    Ok(())
}
