//! Reading the input as lines of raw bytes: one large buffer refilled from stdin, lines
//! found 8 bytes at a time, no copy and no UTF-8 check. A line ends at '\n' and, for the
//! analysis, at its first NUL byte (what halog sees of it, being C strings).

use std::io::{self, Read};

/// What the line callback wants next.
#[derive(PartialEq, Eq)]
pub enum Flow {
    Continue,
    Stop,
}

const CHUNK: usize = 1 << 20;

/// Bit i set when byte i of the 16-byte block at `w` is '\n', the same for NUL.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn masks(w: &[u8]) -> (u32, u32) {
    use std::arch::x86_64::{
        __m128i, _mm_cmpeq_epi8, _mm_loadu_si128, _mm_movemask_epi8, _mm_set1_epi8,
        _mm_setzero_si128,
    };
    debug_assert!(w.len() >= 16);
    // SAFETY: SSE2 is part of the x86_64 baseline; the unaligned load reads 16 bytes that
    // the caller guarantees are in `w` (it passes chunks of exactly 16 bytes).
    unsafe {
        let v = _mm_loadu_si128(w.as_ptr() as *const __m128i);
        let nl = _mm_movemask_epi8(_mm_cmpeq_epi8(v, _mm_set1_epi8(b'\n' as i8)));
        let nul = _mm_movemask_epi8(_mm_cmpeq_epi8(v, _mm_setzero_si128()));
        (nl as u32, nul as u32)
    }
}

/// Bit i set when byte i of the 16-byte block at `w` is '\n', the same for NUL.
#[cfg(not(target_arch = "x86_64"))]
#[inline(always)]
fn masks(w: &[u8]) -> (u32, u32) {
    let mut nl = 0u32;
    let mut nul = 0u32;
    for (i, &c) in w[..16].iter().enumerate() {
        nl |= ((c == b'\n') as u32) << i;
        nul |= ((c == 0) as u32) << i;
    }
    (nl, nul)
}

/// Position of the first '\n' in `buf` and of the first NUL before it, if any.
#[inline]
fn find_eol(buf: &[u8]) -> (Option<usize>, Option<usize>) {
    let mut nul = None;
    let mut i = 0;
    let mut blocks = buf.chunks_exact(16);
    for w in &mut blocks {
        let (m_nl, m_nul) = masks(w);
        if m_nl | m_nul != 0 {
            let first_nl = m_nl.trailing_zeros();
            if nul.is_none() && m_nul != 0 && m_nul.trailing_zeros() < first_nl {
                nul = Some(i + m_nul.trailing_zeros() as usize);
            }
            if m_nl != 0 {
                return (Some(i + first_nl as usize), nul);
            }
        }
        i += 16;
    }
    for (j, &c) in blocks.remainder().iter().enumerate() {
        if c == b'\n' {
            return (Some(i + j), nul);
        }
        if c == 0 && nul.is_none() {
            nul = Some(i + j);
        }
    }
    (None, nul)
}

/// What follows a line's end in the input, as halog's C code sees it when it reads past
/// the end of a line (a short date or termination code at the end of a truncated line): the
/// line's terminator reads as NUL, then come the next bytes of the input, and at the end of
/// the data read so far a '\n' (halog's sentinel) when the input ended with one.
pub struct After<'a> {
    rest: &'a [u8],
    newline: usize,
    end_byte: u8,
}

impl After<'_> {
    /// The byte `k` positions after the line's end (0: its terminating NUL).
    #[inline]
    pub fn byte(&self, k: usize) -> u8 {
        if k == 0 || k == self.newline {
            0
        } else if k < self.rest.len() {
            self.rest[k]
        } else if k == self.rest.len() {
            self.end_byte
        } else {
            0
        }
    }
}

/// Calls `f` with every line of `src` (without its '\n', cut at its first NUL) and what
/// follows it (`After`) until the input ends or `f` says stop. The last line may lack its
/// '\n'. Lines longer than the buffer make it grow (halog stops reading at a line of
/// 256 kB or more).
pub fn for_each_line<R: Read>(
    mut src: R,
    mut f: impl FnMut(&[u8], &After) -> Flow,
) -> io::Result<()> {
    let mut buf = vec![0u8; CHUNK];
    let mut start = 0; // first byte of the current line
    let mut end = 0; // end of the valid data
    let mut scanned = 0; // bytes of the current line known to hold no '\n'
    let mut nul: Option<usize> = None; // first NUL of the current line, absolute
    let mut eof = false;
    loop {
        let (nl, n0) = find_eol(&buf[start + scanned..end]);
        if nul.is_none() {
            nul = n0.map(|p| p + start + scanned);
        }
        if let Some(p) = nl {
            let stop = start + scanned + p;
            let cut = nul.map_or(stop, |z| z.min(stop));
            let after = After {
                rest: &buf[cut..end],
                newline: stop - cut,
                end_byte: b'\n',
            };
            if f(&buf[start..cut], &after) == Flow::Stop {
                return Ok(());
            }
            start = stop + 1;
            scanned = 0;
            nul = None;
            continue;
        }
        scanned = end - start;
        if eof {
            if start < end {
                let cut = nul.unwrap_or(end);
                let after = After {
                    rest: &buf[cut..end],
                    newline: usize::MAX,
                    end_byte: 0,
                };
                f(&buf[start..cut], &after);
            }
            return Ok(());
        }
        // keep the incomplete line, make room, read more
        if start > 0 {
            buf.copy_within(start..end, 0);
            nul = nul.map(|z| z - start);
            end -= start;
            start = 0;
        }
        if end == buf.len() {
            buf.resize(buf.len() * 2, 0);
        }
        let n = loop {
            match src.read(&mut buf[end..]) {
                Ok(n) => break n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        };
        if n == 0 {
            eof = true;
        }
        end += n;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(input: &[u8]) -> Vec<Vec<u8>> {
        let mut v = Vec::new();
        for_each_line(input, |l, _| {
            v.push(l.to_vec());
            Flow::Continue
        })
        .unwrap_or(());
        v
    }

    #[test]
    fn splits_lines() {
        assert_eq!(lines(b"a\nbb\n\nccc"), vec![&b"a"[..], b"bb", b"", b"ccc"]);
        assert_eq!(lines(b"a\n"), vec![b"a".to_vec()]);
        assert!(lines(b"").is_empty());
        assert_eq!(lines(b"ab\0cd\nx\0\n"), vec![b"ab".to_vec(), b"x".to_vec()]);
    }

    #[test]
    fn long_lines_and_refills() {
        let long = vec![b'x'; CHUNK * 2 + 5];
        let mut input = b"first\n".to_vec();
        input.extend_from_slice(&long);
        input.extend_from_slice(b"\nlast\n");
        // a reader handing out 7 bytes at a time exercises every refill path
        struct Slow<'a>(&'a [u8]);
        impl Read for Slow<'_> {
            fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
                let n = self.0.len().min(out.len()).min(7777);
                out[..n].copy_from_slice(&self.0[..n]);
                self.0 = &self.0[n..];
                Ok(n)
            }
        }
        let mut v = Vec::new();
        for_each_line(Slow(&input), |l, _| {
            v.push(l.len());
            Flow::Continue
        })
        .unwrap_or(());
        assert_eq!(v, vec![5, long.len(), 4]);
    }
}
