//! u8 → f32 sample conversion (`v * scale + offset`), the per-batch cost of
//! keeping images compact. Large predict batches convert millions of pixels
//! per call, so AVX-512 machines use a 16-lane path; it rounds exactly like
//! the scalar loop (a multiply, then an add; no fused multiply-add).

/// Below this many values a conversion stays on the calling thread.
const SPLIT_MIN_VALUES: usize = 1 << 18;

/// Converts the rows `indices` of `flat` (rows of `row` bytes) into `out`,
/// in order; large batches in two halves on the JIT's worker thread (each
/// value is converted the same way wherever it runs).
pub(crate) fn gather_scaled(flat: &[u8], row: usize, indices: &[usize], out: &mut [f32], scale: f32, offset: f32) {
    let row = row.max(1);
    let convert = |idx: &[usize], out: &mut [f32]| {
        for (dst, &i) in out.chunks_exact_mut(row).zip(idx) {
            scale_u8(&flat[i * row..(i + 1) * row], dst, scale, offset);
        }
    };
    if out.len() < SPLIT_MIN_VALUES || indices.len() < 2 {
        convert(indices, out);
        return;
    }
    let half = indices.len() / 2;
    let (first, second) = out.split_at_mut(half * row);
    // `join` takes shared closures; each half's buffer is handed over once.
    let first = std::sync::Mutex::new(first);
    let second = std::sync::Mutex::new(second);
    nn_compiler::codegen::join(
        &|| convert(&indices[..half], &mut first.lock().unwrap_or_else(|e| e.into_inner())),
        &|| convert(&indices[half..], &mut second.lock().unwrap_or_else(|e| e.into_inner())),
    );
}

/// `dst[i] = src[i] as f32 * scale + offset`.
///
/// # Panics
/// If the slices differ in length.
pub(crate) fn scale_u8(src: &[u8], dst: &mut [f32], scale: f32, offset: f32) {
    assert_eq!(src.len(), dst.len(), "scale_u8: {} bytes into {} floats", src.len(), dst.len());
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx512f") {
        // SAFETY: the CPU supports AVX-512F (checked above).
        unsafe { avx512(src, dst, scale, offset) };
        return;
    }
    scalar(src, dst, scale, offset);
}

fn scalar(src: &[u8], dst: &mut [f32], scale: f32, offset: f32) {
    for (d, &s) in dst.iter_mut().zip(src) {
        *d = s as f32 * scale + offset;
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn avx512(src: &[u8], dst: &mut [f32], scale: f32, offset: f32) {
    use std::arch::x86_64::*;
    let (vs, vo) = (_mm512_set1_ps(scale), _mm512_set1_ps(offset));
    let full = src.len() / 16 * 16;
    let mut i = 0;
    while i < full {
        let bytes = _mm_loadu_si128(src.as_ptr().add(i) as *const __m128i);
        let x = _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(bytes));
        _mm512_storeu_ps(dst.as_mut_ptr().add(i), _mm512_add_ps(_mm512_mul_ps(x, vs), vo));
        i += 16;
    }
    scalar(&src[full..], &mut dst[full..], scale, offset);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_the_scalar_rounding_for_every_byte_and_tail() {
        let src: Vec<u8> = (0..=255u8).chain(0..37).collect();
        for (scale, offset) in [(1.0 / 255.0, 0.0), (0.3, -0.7), (2.0 / 255.0, -1.0)] {
            let mut fast = vec![f32::NAN; src.len()];
            let mut slow = vec![f32::NAN; src.len()];
            scale_u8(&src, &mut fast, scale, offset);
            scalar(&src, &mut slow, scale, offset);
            assert!(fast.iter().zip(&slow).all(|(a, b)| a.to_bits() == b.to_bits()), "scale {scale} offset {offset}");
        }
    }
}
