//! The slice of `libz-ng-sys`'s API that `flate2`'s `zlib-ng` backend uses, served by
//! `libz-rs-sys` (pure Rust) instead of zlib-ng (C, built with cmake). See README.md.
//!
//! The one difference between the two APIs is the stream's allocator fields: `libz-ng-sys`
//! declares them as plain function pointers, `libz-rs-sys` as `Option`s of them. Both have the
//! same layout (a function pointer is never null, so `Option` adds no tag), which is what lets
//! [`z_stream`] below be cast to `libz_rs_sys::z_stream` at each call.
#![allow(non_camel_case_types, non_snake_case, clippy::missing_safety_doc)]

use core::ffi::{c_char, c_int, c_uint, c_ulong, c_void};

pub use libz_rs_sys::{
    Z_BEST_COMPRESSION, Z_BEST_SPEED, Z_BINARY, Z_BLOCK, Z_BUF_ERROR, Z_DATA_ERROR,
    Z_DEFAULT_COMPRESSION, Z_DEFAULT_STRATEGY, Z_DEFLATED, Z_ERRNO, Z_FILTERED, Z_FINISH, Z_FIXED,
    Z_FULL_FLUSH, Z_HUFFMAN_ONLY, Z_MEM_ERROR, Z_NEED_DICT, Z_NO_COMPRESSION, Z_NO_FLUSH, Z_OK,
    Z_PARTIAL_FLUSH, Z_RLE, Z_STREAM_END, Z_STREAM_ERROR, Z_SYNC_FLUSH, Z_TREES, Z_UNKNOWN,
    Z_VERSION_ERROR,
};

pub type uInt = c_uint;
pub type uLong = c_ulong;
pub type Bytef = u8;
pub type voidpf = *mut c_void;
pub type z_size = c_ulong;
pub type z_checksum = c_ulong;
pub type alloc_func = unsafe extern "C" fn(voidpf, uInt, uInt) -> voidpf;
pub type free_func = unsafe extern "C" fn(voidpf, voidpf);

/// Opaque to callers, as in zlib.
pub enum internal_state {}

/// zlib's stream, laid out as `libz_rs_sys::z_stream` (see the module doc).
#[repr(C)]
#[derive(Copy, Clone)]
pub struct z_stream {
    pub next_in: *mut Bytef,
    pub avail_in: uInt,
    pub total_in: z_size,
    pub next_out: *mut Bytef,
    pub avail_out: uInt,
    pub total_out: z_size,
    pub msg: *mut c_char,
    pub state: *mut internal_state,
    pub zalloc: alloc_func,
    pub zfree: free_func,
    pub opaque: voidpf,
    pub data_type: c_int,
    pub adler: z_checksum,
    pub reserved: uLong,
}
pub type z_streamp = *mut z_stream;

// The cast in `rs` is sound only while the two layouts agree.
const _: () = {
    assert!(core::mem::size_of::<z_stream>() == core::mem::size_of::<libz_rs_sys::z_stream>());
    assert!(core::mem::align_of::<z_stream>() == core::mem::align_of::<libz_rs_sys::z_stream>());
};

fn rs(strm: *mut z_stream) -> *mut libz_rs_sys::z_stream {
    strm.cast()
}

pub unsafe extern "C" fn deflate(strm: z_streamp, flush: c_int) -> c_int {
    libz_rs_sys::deflate(rs(strm), flush)
}

pub unsafe extern "C" fn deflateEnd(strm: z_streamp) -> c_int {
    libz_rs_sys::deflateEnd(rs(strm))
}

pub unsafe extern "C" fn deflateReset(strm: z_streamp) -> c_int {
    libz_rs_sys::deflateReset(rs(strm))
}

pub unsafe extern "C" fn deflateParams(strm: z_streamp, level: c_int, strategy: c_int) -> c_int {
    libz_rs_sys::deflateParams(rs(strm), level, strategy)
}

pub unsafe extern "C" fn deflateSetDictionary(
    strm: z_streamp,
    dictionary: *const Bytef,
    dict_length: uInt,
) -> c_int {
    libz_rs_sys::deflateSetDictionary(rs(strm), dictionary, dict_length)
}

pub unsafe extern "C" fn deflateInit2_(
    strm: z_streamp,
    level: c_int,
    method: c_int,
    window_bits: c_int,
    mem_level: c_int,
    strategy: c_int,
    version: *const c_char,
    stream_size: c_int,
) -> c_int {
    libz_rs_sys::deflateInit2_(
        rs(strm),
        level,
        method,
        window_bits,
        mem_level,
        strategy,
        version,
        stream_size,
    )
}

pub unsafe extern "C" fn inflate(strm: z_streamp, flush: c_int) -> c_int {
    libz_rs_sys::inflate(rs(strm), flush)
}

pub unsafe extern "C" fn inflateEnd(strm: z_streamp) -> c_int {
    libz_rs_sys::inflateEnd(rs(strm))
}

pub unsafe extern "C" fn inflateReset(strm: z_streamp) -> c_int {
    libz_rs_sys::inflateReset(rs(strm))
}

pub unsafe extern "C" fn inflateReset2(strm: z_streamp, window_bits: c_int) -> c_int {
    libz_rs_sys::inflateReset2(rs(strm), window_bits)
}

pub unsafe extern "C" fn inflateSetDictionary(
    strm: z_streamp,
    dictionary: *const Bytef,
    dict_length: uInt,
) -> c_int {
    libz_rs_sys::inflateSetDictionary(rs(strm), dictionary, dict_length)
}

pub unsafe extern "C" fn inflateInit2_(
    strm: z_streamp,
    window_bits: c_int,
    version: *const c_char,
    stream_size: c_int,
) -> c_int {
    libz_rs_sys::inflateInit2_(rs(strm), window_bits, version, stream_size)
}

pub unsafe extern "C" fn zlibVersion() -> *const c_char {
    libz_rs_sys::zlibVersion()
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};

    /// flate2, built on this shim, compresses and inflates back to the same bytes, in both
    /// the zlib and the raw deflate framing and with a preset dictionary.
    #[test]
    fn flate2_round_trips_through_the_shim() {
        let data: Vec<u8> = (0..200_000u32)
            .flat_map(|i| (i % 251).to_le_bytes())
            .collect();
        let mut enc = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::best());
        enc.write_all(&data).unwrap();
        let packed = enc.finish().unwrap();
        assert!(
            packed.len() < data.len() / 10,
            "compressed to {}",
            packed.len()
        );
        let mut out = Vec::new();
        flate2::read::ZlibDecoder::new(&packed[..])
            .read_to_end(&mut out)
            .unwrap();
        assert_eq!(out, data);

        let mut enc = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::fast());
        enc.write_all(b"hello hello hello").unwrap();
        let packed = enc.finish().unwrap();
        let mut out = Vec::new();
        flate2::read::DeflateDecoder::new(&packed[..])
            .read_to_end(&mut out)
            .unwrap();
        assert_eq!(out, b"hello hello hello");
    }

    #[test]
    fn corrupt_input_is_an_error_not_a_crash() {
        let mut out = Vec::new();
        let err = flate2::read::ZlibDecoder::new(&b"\x78\x9c\xff\xff\xff\xff"[..])
            .read_to_end(&mut out)
            .unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
    }
}
