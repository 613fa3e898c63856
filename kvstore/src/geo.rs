//! Redis's geo commands' arithmetic (`geohash.c`, `geohash_helper.c`, `geo.c` of Redis 7.0).
//!
//! A geo set is a sorted set whose scores are 52-bit interleaved geohashes, so GEOADD's
//! score, GEOPOS's decoded coordinates, GEOHASH's string, GEODIST's and GEOSEARCH's
//! distances and the *set of members* GEOSEARCH finds all follow from the exact floating
//! point steps of Redis's C code; this module repeats those steps in the same order (the
//! trigonometry comes from the same libm), and formats numbers as Redis does.
//!
//! Invariants: a score made by [`encode_score`] is an integer below 2^53 (exact as a
//! double); [`search`] visits the nine cells of [`search_area`] in Redis's order and
//! reads each as a score range `min <= score < max`, so with the caller's sorted set it
//! returns Redis's members in Redis's order; [`sort_points`] orders them as Redis's
//! `qsort` (a stable merge sort in glibc) or its partial `pqsort` (for COUNT) does.

use thiserror::Error;

use crate::number;

/// 26 steps of longitude and latitude: 52 bits.
pub const GEO_STEP_MAX: u8 = 26;
pub const GEO_LAT_MIN: f64 = -85.051_128_78;
pub const GEO_LAT_MAX: f64 = 85.051_128_78;
pub const GEO_LONG_MIN: f64 = -180.0;
pub const GEO_LONG_MAX: f64 = 180.0;
/// Earth's quadratic mean radius for WGS-84, as Redis uses it.
pub const EARTH_RADIUS_IN_METERS: f64 = 6_372_797.560_856;
const MERCATOR_MAX: f64 = 20_037_726.37;
const D_R: f64 = std::f64::consts::PI / 180.0;

/// Argument errors of the geo commands, with Redis's exact text.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum GeoError {
    #[error("ERR value is not a valid float")]
    NotFloat,
    /// Coordinates outside the indexable range, formatted with C's `%f`.
    #[error("ERR invalid longitude,latitude pair {0:.6},{1:.6}")]
    InvalidPair(f64, f64),
    #[error("ERR unsupported unit provided. please use M, KM, FT, MI")]
    UnsupportedUnit,
    #[error("ERR need numeric radius")]
    NeedNumericRadius,
    #[error("ERR radius cannot be negative")]
    NegativeRadius,
    #[error("ERR need numeric width")]
    NeedNumericWidth,
    #[error("ERR need numeric height")]
    NeedNumericHeight,
    #[error("ERR height or width cannot be negative")]
    NegativeBox,
}

/// A geohash cell: `step` bits of each coordinate, interleaved (latitude in even bits).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HashBits {
    pub bits: u64,
    pub step: u8,
}

/// A cell's extent in degrees.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Area {
    pub lon_min: f64,
    pub lon_max: f64,
    pub lat_min: f64,
    pub lat_max: f64,
}

#[derive(Debug, Clone, Copy)]
struct Range {
    min: f64,
    max: f64,
}

const WGS84_LON: Range = Range {
    min: GEO_LONG_MIN,
    max: GEO_LONG_MAX,
};
const WGS84_LAT: Range = Range {
    min: GEO_LAT_MIN,
    max: GEO_LAT_MAX,
};

fn deg_rad(ang: f64) -> f64 {
    ang * D_R
}

fn rad_deg(ang: f64) -> f64 {
    ang / D_R
}

fn spread(v: u32) -> u64 {
    let mut x = u64::from(v);
    x = (x | (x << 16)) & 0x0000_FFFF_0000_FFFF;
    x = (x | (x << 8)) & 0x00FF_00FF_00FF_00FF;
    x = (x | (x << 4)) & 0x0F0F_0F0F_0F0F_0F0F;
    x = (x | (x << 2)) & 0x3333_3333_3333_3333;
    (x | (x << 1)) & 0x5555_5555_5555_5555
}

fn squash(v: u64) -> u64 {
    let mut x = v & 0x5555_5555_5555_5555;
    x = (x | (x >> 1)) & 0x3333_3333_3333_3333;
    x = (x | (x >> 2)) & 0x0F0F_0F0F_0F0F_0F0F;
    x = (x | (x >> 4)) & 0x00FF_00FF_00FF_00FF;
    x = (x | (x >> 8)) & 0x0000_FFFF_0000_FFFF;
    (x | (x >> 16)) & 0x0000_0000_FFFF_FFFF
}

/// C's `(uint32_t)` of a non-negative double below 2^32: truncation.
fn to_u32(d: f64) -> u32 {
    d as u32
}

fn encode_in(lon_range: Range, lat_range: Range, lon: f64, lat: f64, step: u8) -> Option<HashBits> {
    if step == 0 || step > 32 {
        return None;
    }
    if !(GEO_LONG_MIN..=GEO_LONG_MAX).contains(&lon) || !(GEO_LAT_MIN..=GEO_LAT_MAX).contains(&lat)
    {
        return None;
    }
    if lat < lat_range.min || lat > lat_range.max || lon < lon_range.min || lon > lon_range.max {
        return None;
    }
    let mut lat_offset = (lat - lat_range.min) / (lat_range.max - lat_range.min);
    let mut lon_offset = (lon - lon_range.min) / (lon_range.max - lon_range.min);
    lat_offset *= (1u64 << step) as f64;
    lon_offset *= (1u64 << step) as f64;
    Some(HashBits {
        bits: spread(to_u32(lat_offset)) | (spread(to_u32(lon_offset)) << 1),
        step,
    })
}

/// `geohashEncodeWGS84`: None outside the indexable range.
pub fn encode(lon: f64, lat: f64, step: u8) -> Option<HashBits> {
    encode_in(WGS84_LON, WGS84_LAT, lon, lat, step)
}

/// GEOADD's score for validated coordinates: the 52-bit geohash (`geohashAlign52Bits`).
pub fn encode_score(lon: f64, lat: f64) -> f64 {
    let hash = encode(lon, lat, GEO_STEP_MAX).expect("coordinates validated by parse_lon_lat");
    align52(hash) as f64
}

fn align52(hash: HashBits) -> u64 {
    hash.bits << (52 - u32::from(hash.step) * 2)
}

fn decode_in(lon_range: Range, lat_range: Range, hash: HashBits) -> Area {
    let step = hash.step;
    let lat_bits = squash(hash.bits);
    let lon_bits = squash(hash.bits >> 1);
    let lat_scale = lat_range.max - lat_range.min;
    let lon_scale = lon_range.max - lon_range.min;
    let div = (1u64 << step) as f64;
    // Redis computes `ilato + 1` in 32 bits.
    let ilato = lat_bits as u32;
    let ilono = lon_bits as u32;
    Area {
        lat_min: lat_range.min + (f64::from(ilato) * 1.0 / div) * lat_scale,
        lat_max: lat_range.min + (f64::from(ilato.wrapping_add(1)) * 1.0 / div) * lat_scale,
        lon_min: lon_range.min + (f64::from(ilono) * 1.0 / div) * lon_scale,
        lon_max: lon_range.min + (f64::from(ilono.wrapping_add(1)) * 1.0 / div) * lon_scale,
    }
}

/// `geohashDecodeWGS84`: the cell's extent.
pub fn decode(hash: HashBits) -> Area {
    decode_in(WGS84_LON, WGS84_LAT, hash)
}

/// x86-64 C's `(uint64_t)` of a double, as gcc compiles it (out of range and NaN give the
/// "integer indefinite" pattern rather than saturating as Rust's `as` does).
fn c_double_to_u64(d: f64) -> u64 {
    const TWO63: f64 = 9_223_372_036_854_775_808.0;
    let cvtt = |x: f64| -> u64 {
        if x.is_nan() || !(-TWO63..TWO63).contains(&x) {
            1u64 << 63
        } else {
            x.trunc() as i64 as u64
        }
    };
    if d >= TWO63 {
        cvtt(d - TWO63) ^ (1u64 << 63)
    } else {
        cvtt(d)
    }
}

/// `decodeGeohash`: a member's score to the centre of its cell, (longitude, latitude),
/// clamped to the indexable range. Any score decodes (GEOPOS on a plain sorted set works).
pub fn decode_score(score: f64) -> (f64, f64) {
    let area = decode(HashBits {
        bits: c_double_to_u64(score),
        step: GEO_STEP_MAX,
    });
    let lon = ((area.lon_min + area.lon_max) / 2.0).clamp(GEO_LONG_MIN, GEO_LONG_MAX);
    let lat = ((area.lat_min + area.lat_max) / 2.0).clamp(GEO_LAT_MIN, GEO_LAT_MAX);
    (lon, lat)
}

/// GEOHASH's 11-character string: the decoded position re-encoded with the standard
/// ranges (±180, ±90), 52 bits in base32, the 11th character always `0`.
pub fn geohash_string(score: f64) -> String {
    const ALPHABET: &[u8; 32] = b"0123456789bcdefghjkmnpqrstuvwxyz";
    let (lon, lat) = decode_score(score);
    let standard_lon = Range {
        min: -180.0,
        max: 180.0,
    };
    let standard_lat = Range {
        min: -90.0,
        max: 90.0,
    };
    let bits = encode_in(standard_lon, standard_lat, lon, lat, GEO_STEP_MAX).map_or(0, |h| h.bits);
    (0..11)
        .map(|i| {
            let idx = if i == 10 {
                0
            } else {
                (bits >> (52 - (i + 1) * 5)) & 0x1f
            };
            char::from(ALPHABET[idx as usize])
        })
        .collect()
}

/// Haversine distance in meters (`geohashGetDistance`).
pub fn distance(lon1: f64, lat1: f64, lon2: f64, lat2: f64) -> f64 {
    let lon1r = deg_rad(lon1);
    let lon2r = deg_rad(lon2);
    let v = ((lon2r - lon1r) / 2.0).sin();
    if v == 0.0 {
        return lat_distance(lat1, lat2);
    }
    let lat1r = deg_rad(lat1);
    let lat2r = deg_rad(lat2);
    let u = ((lat2r - lat1r) / 2.0).sin();
    let a = u * u + lat1r.cos() * lat2r.cos() * v * v;
    2.0 * EARTH_RADIUS_IN_METERS * a.sqrt().asin()
}

fn lat_distance(lat1: f64, lat2: f64) -> f64 {
    EARTH_RADIUS_IN_METERS * (deg_rad(lat2) - deg_rad(lat1)).abs()
}

// ---------------------------------------------------------------------------
// Arguments and formatting
// ---------------------------------------------------------------------------

/// Parses `longitude latitude` and checks the indexable range (`extractLongLatOrReply`).
pub fn parse_lon_lat(lon: &[u8], lat: &[u8]) -> Result<(f64, f64), GeoError> {
    let lon = number::parse_f64(lon).ok_or(GeoError::NotFloat)?;
    let lat = number::parse_f64(lat).ok_or(GeoError::NotFloat)?;
    if !(GEO_LONG_MIN..=GEO_LONG_MAX).contains(&lon) || !(GEO_LAT_MIN..=GEO_LAT_MAX).contains(&lat)
    {
        return Err(GeoError::InvalidPair(lon, lat));
    }
    Ok((lon, lat))
}

/// A unit name (any case) to its size in meters: m, km, ft, mi.
pub fn parse_unit(unit: &[u8]) -> Result<f64, GeoError> {
    match unit.to_ascii_lowercase().as_slice() {
        b"m" => Ok(1.0),
        b"km" => Ok(1000.0),
        b"ft" => Ok(0.3048),
        b"mi" => Ok(1609.34),
        _ => Err(GeoError::UnsupportedUnit),
    }
}

/// `radius unit` → (radius in the unit, unit size in meters).
pub fn parse_radius(radius: &[u8], unit: &[u8]) -> Result<(f64, f64), GeoError> {
    let r = number::parse_f64(radius).ok_or(GeoError::NeedNumericRadius)?;
    if r < 0.0 {
        return Err(GeoError::NegativeRadius);
    }
    Ok((r, parse_unit(unit)?))
}

/// `width height unit` → (width, height in the unit, unit size in meters).
pub fn parse_box(width: &[u8], height: &[u8], unit: &[u8]) -> Result<(f64, f64, f64), GeoError> {
    let w = number::parse_f64(width).ok_or(GeoError::NeedNumericWidth)?;
    let h = number::parse_f64(height).ok_or(GeoError::NeedNumericHeight)?;
    if h < 0.0 || w < 0.0 {
        return Err(GeoError::NegativeBox);
    }
    Ok((w, h, parse_unit(unit)?))
}

/// A distance as GEODIST / WITHDIST print it: four decimals, rounded half to even from
/// the scaled double (`fixedpoint_d2string`).
pub fn format_distance(d: f64) -> String {
    if d == 0.0 {
        return "0.0000".to_owned();
    }
    let scaled = (d * 10000.0).round_ties_even();
    let svalue = if scaled.is_nan()
        || !(-9.223_372_036_854_776e18..9.223_372_036_854_776e18).contains(&scaled)
    {
        i64::MIN
    } else {
        scaled as i64
    };
    let digits = format!("{:05}", svalue.unsigned_abs());
    let (int, frac) = digits.split_at(digits.len() - 4);
    format!("{}{int}.{frac}", if svalue < 0 { "-" } else { "" })
}

/// A coordinate as GEOPOS / WITHCOORD print it (RESP2 bulk and RESP3 double alike):
/// `%.17Lf` with trailing zeros and a trailing dot removed, `-0` shown as `0`.
pub fn format_coordinate(d: f64) -> String {
    if d.is_infinite() {
        return if d > 0.0 { "inf" } else { "-inf" }.to_owned();
    }
    let mut s = format!("{d:.17}");
    if s.contains('.') {
        let trimmed = s.trim_end_matches('0').trim_end_matches('.').len();
        s.truncate(trimmed);
    }
    if s == "-0" {
        s = "0".to_owned();
    }
    s
}

// ---------------------------------------------------------------------------
// Searching
// ---------------------------------------------------------------------------

/// What GEOSEARCH / GEORADIUS look for. Sizes are in the unit; `unit` is its size in
/// meters (the `conversion` of Redis's `GeoShape`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GeoShape {
    pub lon: f64,
    pub lat: f64,
    pub kind: ShapeKind,
    pub unit: f64,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ShapeKind {
    Radius(f64),
    Box { width: f64, height: f64 },
}

/// The cells to scan: the centre cell and its eight neighbours (None when excluded), in
/// the order Redis scans them: centre, N, S, E, W, NE, NW, SE, SW.
#[derive(Debug, Clone, PartialEq)]
pub struct SearchArea {
    pub cells: [Option<HashBits>; 9],
    pub area: Area,
}

/// `geohashEstimateStepsByRadius`.
pub fn estimate_steps(range_meters: f64, lat: f64) -> u8 {
    if range_meters == 0.0 {
        return 26;
    }
    let mut range = range_meters;
    let mut step: i32 = 1;
    while range < MERCATOR_MAX {
        range *= 2.0;
        step += 1;
    }
    step -= 2;
    if !(-66.0..=66.0).contains(&lat) {
        step -= 1;
        if !(-80.0..=80.0).contains(&lat) {
            step -= 1;
        }
    }
    step.clamp(1, 26) as u8
}

/// `geohashBoundingBox`: [min lon, min lat, max lon, max lat].
fn bounding_box(shape: &GeoShape) -> [f64; 4] {
    let (height, width) = match shape.kind {
        ShapeKind::Radius(r) => (shape.unit * r, shape.unit * r),
        ShapeKind::Box { width, height } => {
            (shape.unit * (height / 2.0), shape.unit * (width / 2.0))
        }
    };
    let lat_delta = rad_deg(height / EARTH_RADIUS_IN_METERS);
    let long_delta_top =
        rad_deg(width / EARTH_RADIUS_IN_METERS / deg_rad(shape.lat + lat_delta).cos());
    let long_delta_bottom =
        rad_deg(width / EARTH_RADIUS_IN_METERS / deg_rad(shape.lat - lat_delta).cos());
    let delta = if shape.lat < 0.0 {
        long_delta_bottom
    } else {
        long_delta_top
    };
    [
        shape.lon - delta,
        shape.lat - lat_delta,
        shape.lon + delta,
        shape.lat + lat_delta,
    ]
}

fn move_x(hash: HashBits, d: i8) -> HashBits {
    if d == 0 {
        return hash;
    }
    let shift = 64 - u32::from(hash.step) * 2;
    let mut x = hash.bits & 0xaaaa_aaaa_aaaa_aaaa;
    let y = hash.bits & 0x5555_5555_5555_5555;
    let zz = 0x5555_5555_5555_5555u64.checked_shr(shift).unwrap_or(0);
    if d > 0 {
        x = x.wrapping_add(zz.wrapping_add(1));
    } else {
        x |= zz;
        x = x.wrapping_sub(zz.wrapping_add(1));
    }
    x &= 0xaaaa_aaaa_aaaa_aaaau64.checked_shr(shift).unwrap_or(0);
    HashBits {
        bits: x | y,
        step: hash.step,
    }
}

fn move_y(hash: HashBits, d: i8) -> HashBits {
    if d == 0 {
        return hash;
    }
    let shift = 64 - u32::from(hash.step) * 2;
    let x = hash.bits & 0xaaaa_aaaa_aaaa_aaaa;
    let mut y = hash.bits & 0x5555_5555_5555_5555;
    let zz = 0xaaaa_aaaa_aaaa_aaaau64.checked_shr(shift).unwrap_or(0);
    if d > 0 {
        y = y.wrapping_add(zz.wrapping_add(1));
    } else {
        y |= zz;
        y = y.wrapping_sub(zz.wrapping_add(1));
    }
    y &= 0x5555_5555_5555_5555u64.checked_shr(shift).unwrap_or(0);
    HashBits {
        bits: x | y,
        step: hash.step,
    }
}

/// The eight neighbours in Redis's scan order: N, S, E, W, NE, NW, SE, SW.
fn neighbors(hash: HashBits) -> [HashBits; 8] {
    [
        move_y(hash, 1),
        move_y(hash, -1),
        move_x(hash, 1),
        move_x(hash, -1),
        move_y(move_x(hash, 1), 1),
        move_y(move_x(hash, -1), 1),
        move_y(move_x(hash, 1), -1),
        move_y(move_x(hash, -1), -1),
    ]
}

/// `geohashCalculateAreasByShapeWGS84`: the step and the cells covering the shape.
pub fn search_area(shape: &GeoShape) -> SearchArea {
    let [min_lon, min_lat, max_lon, max_lat] = bounding_box(shape);
    let radius_meters = match shape.kind {
        ShapeKind::Radius(r) => r,
        ShapeKind::Box { width, height } => {
            ((width / 2.0) * (width / 2.0) + (height / 2.0) * (height / 2.0)).sqrt()
        }
    } * shape.unit;
    let mut steps = estimate_steps(radius_meters, shape.lat);
    let cell = |steps| {
        encode(shape.lon, shape.lat, steps).unwrap_or(HashBits {
            bits: 0,
            step: steps,
        })
    };
    let mut hash = cell(steps);
    let mut around = neighbors(hash);
    let mut area = decode(hash);
    let decrease_step = decode(around[0]).lat_max < max_lat
        || decode(around[1]).lat_min > min_lat
        || decode(around[2]).lon_max < max_lon
        || decode(around[3]).lon_min > min_lon;
    if steps > 1 && decrease_step {
        steps -= 1;
        hash = cell(steps);
        around = neighbors(hash);
        area = decode(hash);
    }
    let mut cells = [Some(hash), None, None, None, None, None, None, None, None];
    for (slot, n) in cells[1..].iter_mut().zip(around) {
        *slot = Some(n);
    }
    if steps >= 2 {
        // Indexes into `cells`: 1 N, 2 S, 3 E, 4 W, 5 NE, 6 NW, 7 SE, 8 SW.
        let mut drop = |idx: &[usize]| idx.iter().for_each(|&i| cells[i] = None);
        if area.lat_min < min_lat {
            drop(&[2, 8, 7]);
        }
        if area.lat_max > max_lat {
            drop(&[1, 5, 6]);
        }
        if area.lon_min < min_lon {
            drop(&[4, 8, 6]);
        }
        if area.lon_max > max_lon {
            drop(&[3, 7, 5]);
        }
    }
    SearchArea { cells, area }
}

/// The score range `[min, max)` holding the members of a cell (`scoresOfGeoHashBox`).
pub fn cell_scores(hash: HashBits) -> (f64, f64) {
    let min = align52(hash);
    let max = align52(HashBits {
        bits: hash.bits.wrapping_add(1),
        step: hash.step,
    });
    (min as f64, max as f64)
}

/// One member found by a search; `dist` is in meters (divide by the unit to print).
#[derive(Debug, Clone, PartialEq)]
pub struct GeoPoint<M> {
    pub member: M,
    pub score: f64,
    pub lon: f64,
    pub lat: f64,
    pub dist: f64,
}

/// `geoWithinShape`: the decoded point and its distance from the centre if inside.
pub fn within_shape(shape: &GeoShape, score: f64) -> Option<(f64, f64, f64)> {
    let (lon, lat) = decode_score(score);
    match shape.kind {
        ShapeKind::Radius(r) => {
            let d = distance(shape.lon, shape.lat, lon, lat);
            (d <= r * shape.unit).then_some((lon, lat, d))
        }
        ShapeKind::Box { width, height } => {
            let (width_m, height_m) = (width * shape.unit, height * shape.unit);
            if lat_distance(lat, shape.lat) > height_m / 2.0 {
                return None;
            }
            if distance(lon, lat, shape.lon, lat) > width_m / 2.0 {
                return None;
            }
            Some((lon, lat, distance(shape.lon, shape.lat, lon, lat)))
        }
    }
}

/// Finds the members inside `shape` as Redis does (`membersOfAllNeighbors`).
///
/// `range(min, max)` must yield the sorted set's `(member, score)` pairs with
/// `min <= score < max`, in the set's order (score, then member). `limit` is ANY's count
/// (0: no limit): scanning stops once that many members were found.
pub fn search<M, I, R>(shape: &GeoShape, mut range: R, limit: usize) -> Vec<GeoPoint<M>>
where
    R: FnMut(f64, f64) -> I,
    I: IntoIterator<Item = (M, f64)>,
{
    let cells = search_area(shape).cells;
    let mut found = Vec::new();
    let mut last_processed = 0;
    for (i, cell) in cells.iter().enumerate() {
        let Some(cell) = *cell else { continue };
        if last_processed != 0 && cells[last_processed] == Some(cell) {
            continue;
        }
        if !found.is_empty() && limit != 0 && found.len() >= limit {
            break;
        }
        let (min, max) = cell_scores(cell);
        for (member, score) in range(min, max) {
            if let Some((lon, lat, dist)) = within_shape(shape, score) {
                found.push(GeoPoint {
                    member,
                    score,
                    lon,
                    lat,
                    dist,
                });
            }
            if !found.is_empty() && limit != 0 && found.len() >= limit {
                break;
            }
        }
        last_processed = i;
    }
    found
}

/// ASC or DESC ordering of search results.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Order {
    Asc,
    Desc,
}

/// Sorts search results by distance as Redis does before replying `count` of them
/// (0: all): every point is sorted (glibc's `qsort`, a stable merge sort) when all are
/// returned, else only the first `count` positions are settled with Redis's `pqsort`,
/// whose order among equal distances is its own. Truncate to `count` afterwards.
pub fn sort_points<M>(points: &mut [GeoPoint<M>], order: Order, count: usize) {
    let cmp = |a: &GeoPoint<M>, b: &GeoPoint<M>| -> i32 {
        let c = if a.dist > b.dist {
            1
        } else if a.dist == b.dist {
            0
        } else {
            -1
        };
        match order {
            Order::Asc => c,
            Order::Desc => -c,
        }
    };
    let returned = if count == 0 {
        points.len()
    } else {
        count.min(points.len())
    };
    if returned == points.len() {
        points.sort_by(|a, b| cmp(a, b).cmp(&0));
    } else if returned > 0 {
        pqsort(points, &cmp, 0, returned - 1);
    }
}

/// Redis's `pqsort` (a NetBSD quicksort that only recurses into parts overlapping the
/// element range `lrange..=rrange`), in element indices.
fn pqsort<T>(v: &mut [T], cmp: &dyn Fn(&T, &T) -> i32, lrange: usize, rrange: usize) {
    pqsort_part(v, cmp, 0, v.len(), lrange, rrange);
}

fn overlaps(start: usize, len: usize, l: usize, r: usize) -> bool {
    let end = start + len;
    !((l < start && r < start) || (l >= end && r >= end))
}

fn med3<T>(v: &[T], cmp: &dyn Fn(&T, &T) -> i32, a: usize, b: usize, c: usize) -> usize {
    if cmp(&v[a], &v[b]) < 0 {
        if cmp(&v[b], &v[c]) < 0 {
            b
        } else if cmp(&v[a], &v[c]) < 0 {
            c
        } else {
            a
        }
    } else if cmp(&v[b], &v[c]) > 0 {
        b
    } else if cmp(&v[a], &v[c]) < 0 {
        a
    } else {
        c
    }
}

fn vecswap<T>(v: &mut [T], a: usize, b: usize, n: usize) {
    for i in 0..n {
        v.swap(a + i, b + i);
    }
}

fn pqsort_part<T>(
    v: &mut [T],
    cmp: &dyn Fn(&T, &T) -> i32,
    mut a: usize,
    mut n: usize,
    l: usize,
    r: usize,
) {
    loop {
        if n < 7 {
            for pm in a + 1..a + n {
                let mut pl = pm;
                while pl > a && cmp(&v[pl - 1], &v[pl]) > 0 {
                    v.swap(pl, pl - 1);
                    pl -= 1;
                }
            }
            return;
        }
        let mut pm = a + n / 2;
        if n > 7 {
            let mut pl = a;
            let mut pn = a + n - 1;
            if n > 40 {
                let d = n / 8;
                pl = med3(v, cmp, pl, pl + d, pl + 2 * d);
                pm = med3(v, cmp, pm - d, pm, pm + d);
                pn = med3(v, cmp, pn - 2 * d, pn - d, pn);
            }
            pm = med3(v, cmp, pl, pm, pn);
        }
        v.swap(a, pm);
        let (mut pa, mut pb) = (a + 1, a + 1);
        // pc and pd may step just below pb (down to a), so they are signed.
        let (mut pc, mut pd) = ((a + n - 1) as isize, (a + n - 1) as isize);
        loop {
            while pb as isize <= pc {
                let c = cmp(&v[pb], &v[a]);
                if c > 0 {
                    break;
                }
                if c == 0 {
                    v.swap(pa, pb);
                    pa += 1;
                }
                pb += 1;
            }
            while pb as isize <= pc {
                let c = cmp(&v[pc as usize], &v[a]);
                if c < 0 {
                    break;
                }
                if c == 0 {
                    v.swap(pc as usize, pd as usize);
                    pd -= 1;
                }
                pc -= 1;
            }
            if pb as isize > pc {
                break;
            }
            v.swap(pb, pc as usize);
            pb += 1;
            pc -= 1;
        }
        let pn = a + n;
        let s = (pa - a).min(pb - pa);
        vecswap(v, a, pb - s, s);
        let s = ((pd - pc) as usize).min(pn - pd as usize - 1);
        vecswap(v, pb, pn - s, s);
        let left = pb - pa;
        if left > 1 && overlaps(a, left, l, r) {
            pqsort_part(v, cmp, a, left, l, r);
        }
        let right = (pd - pc) as usize;
        if right > 1 {
            a = pn - right;
            n = right;
            if overlaps(a, n, l, r) {
                continue;
            }
        }
        return;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::redis_oracle::{RedisOracle, Resp};
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};

    fn bulk(s: impl Into<Vec<u8>>) -> Resp {
        Resp::Bulk(Some(s.into()))
    }

    fn random_lon_lat(rng: &mut StdRng) -> (f64, f64) {
        match rng.gen_range(0..6) {
            0 => (
                rng.gen_range(-180.0..=180.0),
                rng.gen_range(GEO_LAT_MIN..=GEO_LAT_MAX),
            ),
            1 => (
                [-180.0, 180.0, 0.0][rng.gen_range(0..3)],
                [GEO_LAT_MIN, GEO_LAT_MAX, 0.0][rng.gen_range(0..3)],
            ),
            2 => (
                rng.gen_range(179.9..=180.0),
                rng.gen_range(84.9..=GEO_LAT_MAX),
            ),
            3 => (rng.gen_range(-0.01..0.01), rng.gen_range(-0.01..0.01)),
            _ => (
                13.361389 + rng.gen_range(-2.0..2.0),
                38.115556 + rng.gen_range(-2.0..2.0),
            ),
        }
    }

    #[test]
    fn scores_positions_hashes_and_distances_match_redis() {
        let Some(mut redis) = RedisOracle::start() else {
            return;
        };
        let mut rng = StdRng::seed_from_u64(0x6e0_0001);
        let points: Vec<(f64, f64)> = (0..600).map(|_| random_lon_lat(&mut rng)).collect();
        let mut add = vec!["GEOADD".to_string(), "g".into()];
        for (i, (lon, lat)) in points.iter().enumerate() {
            add.extend([format!("{lon}"), format!("{lat}"), format!("m{i}")]);
        }
        assert_eq!(redis.cmd(&add), Resp::Int(points.len() as i64));
        let zscores: Vec<Vec<String>> = (0..points.len())
            .map(|i| vec!["ZSCORE".into(), "g".into(), format!("m{i}")])
            .collect();
        let scores = redis.pipeline(&zscores);
        let positions = redis.pipeline(
            &(0..points.len())
                .map(|i| vec!["GEOPOS".into(), "g".into(), format!("m{i}")])
                .collect::<Vec<Vec<String>>>(),
        );
        let hashes = redis.pipeline(
            &(0..points.len())
                .map(|i| vec!["GEOHASH".into(), "g".into(), format!("m{i}")])
                .collect::<Vec<Vec<String>>>(),
        );
        for (i, &(lon, lat)) in points.iter().enumerate() {
            let score = encode_score(lon, lat);
            assert_eq!(
                bulk(format!("{}", score as u64)),
                scores[i],
                "score of {lon},{lat}"
            );
            let (dlon, dlat) = decode_score(score);
            let pos = Resp::Array(Some(vec![Resp::Array(Some(vec![
                bulk(format_coordinate(dlon)),
                bulk(format_coordinate(dlat)),
            ]))]));
            assert_eq!(pos, positions[i], "position of {lon},{lat}");
            assert_eq!(
                Resp::Array(Some(vec![bulk(geohash_string(score))])),
                hashes[i]
            );
        }
        let mut dists = Vec::new();
        let mut expected = Vec::new();
        for _ in 0..400 {
            let (a, b) = (
                rng.gen_range(0..points.len()),
                rng.gen_range(0..points.len()),
            );
            let unit = ["m", "km", "ft", "mi", "KM"][rng.gen_range(0..5)];
            dists.push(vec![
                "GEODIST".to_string(),
                "g".into(),
                format!("m{a}"),
                format!("m{b}"),
                unit.into(),
            ]);
            let (lon1, lat1) = decode_score(encode_score(points[a].0, points[a].1));
            let (lon2, lat2) = decode_score(encode_score(points[b].0, points[b].1));
            let d = distance(lon1, lat1, lon2, lat2) / parse_unit(unit.as_bytes()).unwrap();
            expected.push(bulk(format_distance(d)));
        }
        assert_eq!(redis.pipeline(&dists), expected);
    }

    #[test]
    fn any_score_decodes_like_redis() {
        let Some(mut redis) = RedisOracle::start() else {
            return;
        };
        let scores = [
            "0",
            "-1",
            "1.5",
            "-0.5",
            "1e20",
            "-1e20",
            "inf",
            "-inf",
            "4503599627370496",
            "4503599627370495",
            "9007199254740993",
            "1.8446744073709552e19",
            "9.3e18",
            "123456789",
        ];
        for s in scores {
            redis.cmd(&["ZADD", "z", s, s]);
            let expected = redis.cmd(&["GEOPOS", "z", s]);
            let (lon, lat) = decode_score(number::parse_f64(s.as_bytes()).unwrap());
            let got = Resp::Array(Some(vec![Resp::Array(Some(vec![
                bulk(format_coordinate(lon)),
                bulk(format_coordinate(lat)),
            ]))]));
            assert_eq!(got, expected, "score {s}");
            let expected = redis.cmd(&["GEOHASH", "z", s]);
            assert_eq!(
                Resp::Array(Some(vec![bulk(geohash_string(
                    number::parse_f64(s.as_bytes()).unwrap()
                ))])),
                expected,
                "score {s}"
            );
        }
    }

    #[test]
    fn argument_errors_match_redis() {
        let Some(mut redis) = RedisOracle::start() else {
            return;
        };
        for (lon, lat) in [
            ("181", "0"),
            ("0", "85.06"),
            ("-180.0000001", "-90"),
            ("inf", "0"),
            ("1e300", "-1e300"),
            ("abc", "0"),
            ("0", ""),
            ("12.3456785", "99.0000005"),
        ] {
            let expected = redis.cmd(&["GEOADD", "g", lon, lat, "m"]);
            let got = parse_lon_lat(lon.as_bytes(), lat.as_bytes()).unwrap_err();
            assert_eq!(got.to_string(), expected.error(), "{lon},{lat}");
        }
        let expected = redis.cmd(&[
            "GEOSEARCH",
            "g",
            "FROMLONLAT",
            "0",
            "0",
            "BYRADIUS",
            "1",
            "yd",
        ]);
        assert_eq!(parse_unit(b"yd").unwrap_err().to_string(), expected.error());
        redis.cmd(&["GEOADD", "g", "0", "0", "m"]);
        for (r, unit) in [("x", "m"), ("-1", "m"), ("1", "yd")] {
            let expected = redis.cmd(&[
                "GEOSEARCH",
                "g",
                "FROMLONLAT",
                "0",
                "0",
                "BYRADIUS",
                r,
                unit,
            ]);
            assert_eq!(
                parse_radius(r.as_bytes(), unit.as_bytes())
                    .unwrap_err()
                    .to_string(),
                expected.error()
            );
        }
        for (w, h, unit) in [
            ("x", "1", "m"),
            ("1", "x", "m"),
            ("1", "-1", "m"),
            ("-1", "x", "m"),
            ("1", "1", "yd"),
        ] {
            let expected = redis.cmd(&[
                "GEOSEARCH",
                "g",
                "FROMLONLAT",
                "0",
                "0",
                "BYBOX",
                w,
                h,
                unit,
            ]);
            let got = parse_box(w.as_bytes(), h.as_bytes(), unit.as_bytes()).unwrap_err();
            assert_eq!(got.to_string(), expected.error(), "{w} {h} {unit}");
        }
    }

    #[test]
    fn distance_formatting() {
        assert_eq!(format_distance(0.0), "0.0000");
        assert_eq!(format_distance(0.00005), "0.0000");
        assert_eq!(
            format_distance(0.00015),
            "0.0001",
            "0.00015 * 10000 is 1.4999999999999998"
        );
        assert_eq!(format_distance(-0.0005), "-0.0005");
        assert_eq!(format_distance(166274.1516), "166274.1516");
        assert_eq!(
            format_coordinate(13.361389338970184),
            "13.36138933897018433"
        );
        assert_eq!(format_coordinate(-0.0), "0");
        assert_eq!(format_coordinate(2.0), "2");
    }

    /// The local sorted set: (member, score) in Redis's order.
    fn zset(points: &[(String, f64)]) -> Vec<(String, f64)> {
        let mut z = points.to_vec();
        z.sort_by(|a, b| {
            a.1.partial_cmp(&b.1)
                .unwrap()
                .then_with(|| a.0.as_bytes().cmp(b.0.as_bytes()))
        });
        z
    }

    #[test]
    fn geosearch_matches_redis() {
        let Some(mut redis) = RedisOracle::start() else {
            return;
        };
        let mut rng = StdRng::seed_from_u64(0x6e0_0002);
        let mut members = Vec::new();
        let mut add = vec!["GEOADD".to_string(), "g".into()];
        for i in 0..3000 {
            let (lon, lat) = if i % 10 == 9 {
                // Some members share a position, so distances tie.
                (13.5, 38.0)
            } else {
                random_lon_lat(&mut rng)
            };
            let name = format!("m{i}");
            add.extend([format!("{lon}"), format!("{lat}"), name.clone()]);
            members.push((name, encode_score(lon, lat)));
        }
        redis.cmd(&add);
        let z = zset(&members);
        for case in 0..450 {
            // FROMMEMBER searches around the member's decoded position.
            let from_member = rng.gen_bool(0.3).then(|| rng.gen_range(0..members.len()));
            let (lon, lat) = match from_member {
                Some(i) => decode_score(members[i].1),
                None if rng.gen_bool(0.5) => (13.5, 38.0),
                None => random_lon_lat(&mut rng),
            };
            let unit_name = ["m", "km", "ft", "mi"][rng.gen_range(0..4)];
            let unit = parse_unit(unit_name.as_bytes()).unwrap();
            let size = |rng: &mut StdRng| {
                if rng.gen_bool(0.03) {
                    0.0
                } else {
                    10f64.powf(rng.gen_range(0.0..7.0)) / unit
                }
            };
            let kind = if rng.gen_bool(0.5) {
                ShapeKind::Radius(size(&mut rng))
            } else {
                ShapeKind::Box {
                    width: size(&mut rng),
                    height: size(&mut rng),
                }
            };
            let shape = GeoShape {
                lon,
                lat,
                kind,
                unit,
            };
            let mut cmd = vec!["GEOSEARCH".to_string(), "g".into()];
            match from_member {
                Some(i) => cmd.extend(["FROMMEMBER".into(), members[i].0.clone()]),
                None => cmd.extend(["FROMLONLAT".into(), format!("{lon}"), format!("{lat}")]),
            }
            match kind {
                ShapeKind::Radius(r) => {
                    cmd.extend(["BYRADIUS".into(), format!("{r}"), unit_name.into()])
                }
                ShapeKind::Box { width, height } => cmd.extend([
                    "BYBOX".into(),
                    format!("{width}"),
                    format!("{height}"),
                    unit_name.into(),
                ]),
            }
            cmd.extend(["WITHDIST".into(), "WITHHASH".into(), "WITHCOORD".into()]);
            let order = [None, Some(Order::Asc), Some(Order::Desc)][rng.gen_range(0..3)];
            match order {
                Some(Order::Asc) => cmd.push("ASC".into()),
                Some(Order::Desc) => cmd.push("DESC".into()),
                None => {}
            }
            let count = if rng.gen_bool(0.5) {
                rng.gen_range(1..30)
            } else {
                0
            };
            let any = count > 0 && rng.gen_bool(0.3);
            if count > 0 {
                cmd.extend(["COUNT".into(), count.to_string()]);
                if any {
                    cmd.push("ANY".into());
                }
            }
            let expected = redis.cmd(&cmd);
            let mut found = search(
                &shape,
                |min, max| {
                    z.iter()
                        .filter(move |(_, s)| *s >= min && *s < max)
                        .map(|(m, s)| (m.clone(), *s))
                },
                if any { count } else { 0 },
            );
            let order = if count > 0 && order.is_none() && !any {
                Some(Order::Asc)
            } else {
                order
            };
            if let Some(order) = order {
                sort_points(&mut found, order, count);
            }
            if count > 0 {
                found.truncate(count);
            }
            let got: Vec<Resp> = found
                .iter()
                .map(|p| {
                    Resp::Array(Some(vec![
                        bulk(p.member.clone()),
                        bulk(format_distance(p.dist / unit)),
                        Resp::Int(p.score as i64),
                        Resp::Array(Some(vec![
                            bulk(format_coordinate(p.lon)),
                            bulk(format_coordinate(p.lat)),
                        ])),
                    ]))
                })
                .collect();
            let expected = expected.array();
            assert_eq!(got.len(), expected.len(), "case {case}: {cmd:?}");
            assert_eq!(got, expected, "case {case}: {cmd:?}");
        }
    }
}
