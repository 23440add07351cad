//! The keeper's read buffer for app output: 4 KiB while the app is quiet, a 128 KiB mapping
//! while it writes in bursts, unmapped again when the burst ends. Keepers are many, so an idle
//! one must not hold a large buffer, and a busy one must read a full pipe at a time.

use std::ptr::NonNull;

const SMALL: usize = 4 * 1024;
const BIG: usize = 128 * 1024;

/// An anonymous private mapping, returned to the kernel on drop.
struct Mapping {
    ptr: NonNull<u8>,
    len: usize,
}

impl Mapping {
    fn new(len: usize) -> Option<Mapping> {
        // SAFETY: an anonymous private mapping with no address hint has no preconditions.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if p == libc::MAP_FAILED {
            return None;
        }
        NonNull::new(p.cast::<u8>()).map(|ptr| Mapping { ptr, len })
    }

    fn as_mut(&mut self) -> &mut [u8] {
        // SAFETY: the mapping is `len` bytes, readable and writable, and exclusively ours.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.as_ptr(), self.len) }
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: unmapping exactly what mmap returned.
        unsafe { libc::munmap(self.ptr.as_ptr().cast(), self.len) };
    }
}

/// A read buffer that grows for bursts and shrinks when they end.
pub struct ReadBuffer {
    small: Vec<u8>,
    big: Option<Mapping>,
}

impl Default for ReadBuffer {
    fn default() -> Self {
        ReadBuffer {
            small: vec![0; SMALL],
            big: None,
        }
    }
}

impl ReadBuffer {
    /// The buffer to read into now.
    pub fn get(&mut self) -> &mut [u8] {
        match &mut self.big {
            Some(m) => m.as_mut(),
            None => &mut self.small,
        }
    }

    /// A read filled the buffer: the app writes faster than small reads keep up with.
    pub fn filled(&mut self) {
        if self.big.is_none() {
            self.big = Mapping::new(BIG);
        }
    }

    /// The pipe ran dry after a pass that read `bytes`: drop the big buffer unless busy.
    pub fn idle_after(&mut self, bytes: usize) {
        if bytes < BIG {
            self.big = None;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_on_a_full_read_and_shrinks_when_quiet() {
        let mut b = ReadBuffer::default();
        assert_eq!(b.get().len(), SMALL);
        b.filled();
        assert_eq!(b.get().len(), BIG);
        b.get()[BIG - 1] = 7;
        b.idle_after(BIG * 3);
        assert_eq!(b.get().len(), BIG, "still busy");
        b.idle_after(10);
        assert_eq!(b.get().len(), SMALL);
    }
}
