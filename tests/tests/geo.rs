//! Geo commands (GEOADD, GEODIST, GEOHASH, GEOPOS, GEORADIUS*, GEOSEARCH, GEOSEARCHSTORE),
//! compared byte for byte with redis-server in RESP2 and RESP3: members found, their order,
//! distances, hashes and coordinates, errors in Redis's order, and stored results.

use e2e::Differential;

/// What the persistence tests run under: every acknowledged write is durable.
const ALWAYS: &[&str] = &["--appendonly", "yes", "--appendfsync", "always"];

/// A few Italian cities (Redis's documentation example) plus close neighbours.
const CITIES: &str = r#"
    GEOADD Sicily 13.361389 38.115556 Palermo 15.087269 37.502669 Catania
    GEOADD Sicily 12.758489 38.788135 edge1 17.241510 38.788135 edge2
    GEOADD Sicily 13.5 37.8 a 13.6 37.9 b 14.0 38.0 c 15.0 37.5 d 15.0 37.5 e
    "#;

#[test]
fn geoadd_geopos_geodist_geohash_match_redis() {
    let Some(d) = Differential::start(&[]) else {
        return;
    };
    d.check_both(&format!(
        r#"
        {CITIES}
        TYPE Sicily
        ZRANGE Sicily 0 -1 WITHSCORES
        OBJECT ENCODING Sicily
        GEOADD Sicily NX 13.361389 38.115556 Palermo 1 1 new
        GEOADD Sicily XX 1 1 Palermo 2 2 other
        GEOADD Sicily XX CH 13.361389 38.115556 Palermo
        GEOADD Sicily CH 13.361389 38.115556 Palermo 10 10 Catania 11 11 x
        GEOADD Sicily ch nx 1 2 x 3 4 y
        GEOPOS Sicily Palermo Catania missing x
        GEOPOS Sicily
        GEOPOS missing a b
        GEODIST Sicily Palermo Catania
        GEODIST Sicily Palermo Catania km
        GEODIST Sicily Palermo Catania MI
        GEODIST Sicily Palermo Catania ft
        GEODIST Sicily Palermo Palermo
        GEODIST Sicily Palermo missing
        GEODIST missing a b
        GEODIST Sicily Palermo Catania yards
        GEODIST Sicily Palermo Catania km extra
        GEOHASH Sicily Palermo Catania missing
        GEOHASH Sicily
        GEOHASH missing a
        GEOADD g 180 85.05112878 max -180 -85.05112878 min 0 0 zero
        GEOPOS g max min zero
        GEOHASH g max min zero
        GEODIST g max min
        GEOADD g 180.1 0 bad
        GEOADD g 0 85.06 bad
        GEOADD g x 0 bad
        GEOADD g 0 y bad
        GEOADD g 1 2 ok 0 95 bad
        EXISTS bad
        GEOADD g NX XX 1 2 m
        GEOADD g 1 2
        GEOADD g 1 2 m 3
        GEOADD g GT 1 2 m
        GEOADD g NX
        LPUSH l x
        GEOADD l 1 2 m
        GEOADD l 1 200 m
        GEOPOS l m
        GEODIST l a b
        GEODIST l a b xx
        GEOHASH l a
        ZADD z 1 one 1e20 big -5 neg
        GEOPOS z one
        GEOHASH z one
        "#
    ));
}

#[test]
fn georadius_family_matches_redis() {
    let Some(d) = Differential::start(&[]) else {
        return;
    };
    d.check_both(&format!(
        r#"
        {CITIES}
        GEORADIUS Sicily 15 37 200 km
        GEORADIUS Sicily 15 37 200 km ASC
        GEORADIUS Sicily 15 37 200 km DESC
        GEORADIUS Sicily 15 37 200 km WITHDIST
        GEORADIUS Sicily 15 37 200 km WITHCOORD
        GEORADIUS Sicily 15 37 200 km WITHDIST WITHCOORD WITHHASH ASC
        GEORADIUS Sicily 15 37 200 km WITHHASH WITHCOORD WITHDIST DESC COUNT 2
        GEORADIUS Sicily 15 37 200 km COUNT 3
        GEORADIUS Sicily 15 37 200 km COUNT 3 ANY
        GEORADIUS Sicily 15 37 200 km COUNT 3 ANY DESC
        GEORADIUS Sicily 15 37 200 km COUNT 1 ANY
        GEORADIUS Sicily 15 37 1 m
        GEORADIUS Sicily 15 37 0 km
        GEORADIUS Sicily 15 37 124 mi
        GEORADIUS Sicily 15 37 600000 ft
        GEORADIUS Sicily 15 37 5000 km ASC
        GEORADIUS_RO Sicily 15 37 200 km WITHDIST ASC
        GEORADIUSBYMEMBER Sicily Palermo 100 km
        GEORADIUSBYMEMBER Sicily Palermo 100 km WITHDIST ASC
        GEORADIUSBYMEMBER_RO Sicily Catania 300 km WITHCOORD DESC COUNT 4
        GEORADIUSBYMEMBER Sicily d 0 km WITHDIST
        GEORADIUS Sicily 15 37 200 km STORE dst
        ZRANGE dst 0 -1 WITHSCORES
        GEORADIUS Sicily 15 37 200 km STOREDIST dst ASC COUNT 2
        ZRANGE dst 0 -1 WITHSCORES
        SET dst x EX 1000
        GEORADIUSBYMEMBER Sicily Palermo 500 km STOREDIST dst
        TTL dst
        ZRANGE dst 0 -1 WITHSCORES
        GEORADIUS Sicily 0 0 1 km STORE dst
        EXISTS dst
        GEORADIUS missing 15 37 200 km
        GEORADIUS missing 15 37 200 km STORE dst2
        SET dst2 x
        GEORADIUS missing 15 37 200 km STORE dst2
        EXISTS dst2
        GEORADIUSBYMEMBER missing nobody 1 km
        GEORADIUSBYMEMBER missing nobody x km WITHDIST
        GEORADIUSBYMEMBER missing nobody 1 km STORE d WITHDIST
        GEORADIUSBYMEMBER missing nobody 1 km ANY
        GEORADIUSBYMEMBER Sicily nobody 1 km
        GEORADIUSBYMEMBER Sicily nobody x yards
        GEORADIUSBYMEMBER Sicily Palermo x km
        GEORADIUSBYMEMBER Sicily Palermo -1 km
        GEORADIUSBYMEMBER Sicily Palermo 1 yards
        GEORADIUS Sicily 200 37 1 km
        GEORADIUS Sicily x 37 1 km
        GEORADIUS Sicily 15 37 x km
        GEORADIUS Sicily 15 37 -5 km
        GEORADIUS Sicily 15 37 1 parsecs
        GEORADIUS Sicily 15 37 200 km COUNT 0
        GEORADIUS Sicily 15 37 200 km COUNT -1
        GEORADIUS Sicily 15 37 200 km COUNT x
        GEORADIUS Sicily 15 37 200 km COUNT
        GEORADIUS Sicily 15 37 200 km ANY
        GEORADIUS Sicily 15 37 200 km STORE
        GEORADIUS Sicily 15 37 200 km STORE dst WITHDIST
        GEORADIUS Sicily 15 37 200 km WITHHASH STOREDIST dst
        GEORADIUS_RO Sicily 15 37 200 km STORE dst
        GEORADIUSBYMEMBER_RO Sicily Palermo 200 km STOREDIST dst
        GEORADIUS Sicily 15 37 200 km FROMLONLAT 1 2
        GEORADIUS Sicily 15 37 200 km BOGUS
        LPUSH l x
        GEORADIUS l 15 37 200 km
        GEORADIUS l 15 37 x km
        GEORADIUSBYMEMBER l m 1 km
        GEORADIUS Sicily 15 37 200 km STORE l
        TYPE l
        GEORADIUS
        GEORADIUS Sicily 15 37 200
        "#
    ));
}

#[test]
fn geosearch_and_geosearchstore_match_redis() {
    let Some(d) = Differential::start(&[]) else {
        return;
    };
    d.check_both(&format!(
        r#"
        {CITIES}
        GEOSEARCH Sicily FROMLONLAT 15 37 BYRADIUS 200 km ASC
        GEOSEARCH Sicily FROMLONLAT 15 37 BYBOX 400 400 km ASC WITHCOORD WITHDIST WITHHASH
        GEOSEARCH Sicily FROMLONLAT 15 37 BYBOX 400 400 km DESC COUNT 2
        GEOSEARCH Sicily FROMMEMBER Palermo BYBOX 100 300 km WITHDIST
        GEOSEARCH Sicily FROMMEMBER Palermo BYRADIUS 100 km COUNT 2 ANY
        GEOSEARCH Sicily BYRADIUS 100 km FROMMEMBER Palermo COUNT 3
        GEOSEARCH Sicily FROMMEMBER Palermo FROMMEMBER Catania BYRADIUS 100 km
        GEOSEARCH Sicily FROMLONLAT 15 37 BYBOX 0 0 km
        GEOSEARCH Sicily FROMLONLAT 15 37 BYBOX 1000 1 mi
        GEOSEARCH Sicily FROMLONLAT 15 37 BYBOX 1 1000 mi WITHDIST
        GEOSEARCH Sicily FROMMEMBER d BYRADIUS 0 m WITHDIST
        GEOSEARCHSTORE dst Sicily FROMLONLAT 15 37 BYBOX 400 400 km ASC COUNT 3
        ZRANGE dst 0 -1 WITHSCORES
        GEOSEARCHSTORE dst Sicily FROMLONLAT 15 37 BYBOX 400 400 km STOREDIST
        ZRANGE dst 0 -1 WITHSCORES
        OBJECT ENCODING dst
        GEOSEARCHSTORE dst Sicily FROMLONLAT 0 0 BYRADIUS 1 km
        EXISTS dst
        GEOSEARCHSTORE Sicily Sicily FROMMEMBER Palermo BYRADIUS 10 km
        ZRANGE Sicily 0 -1
        GEOADD Sicily 13.361389 38.115556 Palermo 15.087269 37.502669 Catania
        GEOSEARCH missing FROMLONLAT 15 37 BYRADIUS 200 km
        GEOSEARCH missing FROMMEMBER nobody BYRADIUS 200 km
        GEOSEARCH missing FROMMEMBER nobody BYRADIUS x km
        GEOSEARCHSTORE dst missing FROMMEMBER nobody BYBOX 1 1 km
        GEOSEARCH Sicily FROMMEMBER nobody BYRADIUS 200 km
        GEOSEARCH Sicily FROMLONLAT 15 37
        GEOSEARCH Sicily BYRADIUS 200 km
        GeoSearch Sicily BYRADIUS 200 km WITHDIST
        geosearchSTORE dst Sicily BYRADIUS 200 km
        GEOSEARCH Sicily FROMLONLAT 15 37 FROMMEMBER Palermo BYRADIUS 200 km
        GEOSEARCH Sicily FROMMEMBER Palermo FROMLONLAT 15 37 BYRADIUS 200 km
        GEOSEARCH Sicily FROMLONLAT 15 37 BYRADIUS 200 km BYBOX 1 1 km
        GEOSEARCH Sicily FROMLONLAT 15 37 BYBOX 1 1 km BYRADIUS 200 km
        GEOSEARCH Sicily FROMLONLAT 15 37 BYBOX x 1 km
        GEOSEARCH Sicily FROMLONLAT 15 37 BYBOX 1 x km
        GEOSEARCH Sicily FROMLONLAT 15 37 BYBOX -1 1 km
        GEOSEARCH Sicily FROMLONLAT 15 37 BYBOX 1 1 yd
        GEOSEARCH Sicily FROMLONLAT 15 37 BYBOX 1 1
        GEOSEARCH Sicily FROMLONLAT 15 91 BYRADIUS 1 km
        GEOSEARCH Sicily FROMLONLAT 15 37 BYRADIUS 200 km ANY
        GEOSEARCH Sicily FROMLONLAT 15 37 BYRADIUS 200 km STORE dst
        GEOSEARCH Sicily FROMLONLAT 15 37 BYRADIUS 200 km STOREDIST
        GEOSEARCHSTORE dst Sicily FROMLONLAT 15 37 BYRADIUS 200 km WITHDIST
        GEOSEARCHSTORE dst Sicily FROMLONLAT 15 37 BYRADIUS 200 km STORE x
        LPUSH l x
        GEOSEARCH l FROMLONLAT 15 37 BYRADIUS 200 km
        GEOSEARCHSTORE dst l FROMLONLAT 15 37 BYRADIUS 200 km
        GEOSEARCHSTORE l Sicily FROMLONLAT 15 37 BYRADIUS 200 km
        TYPE l
        "#
    ));
}

#[test]
fn a_large_geo_set_is_searched_like_redis() {
    let Some(d) = Differential::start(&[]) else {
        return;
    };
    let mut script = String::new();
    for row in 0..20 {
        let mut line = String::from("GEOADD grid");
        for col in 0..20 {
            let lon = -0.5 + col as f64 * 0.05;
            let lat = 51.0 + row as f64 * 0.05;
            line.push_str(&format!(" {lon:.4} {lat:.4} p{row}_{col}"));
        }
        script.push_str(&line);
        script.push('\n');
    }
    script.push_str(
        r#"
        OBJECT ENCODING grid
        GEOSEARCH grid FROMLONLAT 0 51.5 BYRADIUS 10 km ASC WITHDIST
        GEOSEARCH grid FROMLONLAT 0 51.5 BYBOX 20 10 km DESC WITHHASH
        GEOSEARCH grid FROMMEMBER p10_10 BYRADIUS 25 km COUNT 7
        GEOSEARCH grid FROMMEMBER p10_10 BYRADIUS 25 km COUNT 7 ANY
        GEORADIUS grid 0 51.5 5 mi WITHCOORD
        GEOSEARCHSTORE near grid FROMLONLAT 0 51.5 BYRADIUS 15 km STOREDIST
        ZRANGE near 0 -1 WITHSCORES
        OBJECT ENCODING near
        "#,
    );
    d.check_both(&script);
}

/// Points scattered over the globe by a fixed pseudo-random sequence, searched around many
/// centres with every shape, order and COUNT: members, order and numbers must all match.
#[test]
fn scattered_points_are_found_like_redis() {
    let Some(d) = Differential::start(&[]) else {
        return;
    };
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move |range: f64| {
        seed = seed
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (seed >> 11) as f64 / (1u64 << 53) as f64 * range
    };
    let mut script = String::new();
    for batch in 0..10 {
        let mut line = String::from("GEOADD world");
        for i in 0..100 {
            // Dense around (10, 45) for half of them, anywhere for the rest.
            let (lon, lat) = if i % 2 == 0 {
                (10.0 + next(4.0) - 2.0, 45.0 + next(4.0) - 2.0)
            } else {
                (next(360.0) - 180.0, next(170.0) - 85.0)
            };
            line.push_str(&format!(" {lon:.6} {lat:.6} m{batch}_{i}"));
        }
        script.push_str(&line);
        script.push('\n');
    }
    for i in 0..25 {
        let (lon, lat) = (10.0 + next(6.0) - 3.0, 45.0 + next(6.0) - 3.0);
        let r = 1.0 + next(300.0);
        let (w, h) = (1.0 + next(400.0), 1.0 + next(400.0));
        let count = 1 + i % 7;
        script.push_str(&format!(
            "GEOSEARCH world FROMLONLAT {lon:.4} {lat:.4} BYRADIUS {r:.3} km ASC WITHDIST\n\
             GEOSEARCH world FROMLONLAT {lon:.4} {lat:.4} BYBOX {w:.3} {h:.3} km DESC WITHHASH\n\
             GEOSEARCH world FROMLONLAT {lon:.4} {lat:.4} BYRADIUS {r:.3} km COUNT {count}\n\
             GEOSEARCH world FROMLONLAT {lon:.4} {lat:.4} BYBOX {w:.3} {h:.3} km COUNT {count} DESC WITHCOORD\n\
             GEORADIUS world {lon:.4} {lat:.4} {r:.3} mi WITHDIST COUNT {count} ANY\n\
             GEORADIUSBYMEMBER world m0_{} {r:.3} km ASC\n",
            2 * (i % 50)
        ));
    }
    script.push_str("GEOSEARCH world FROMLONLAT 0 0 BYRADIUS 20000 km ASC COUNT 50 WITHDIST\n");
    d.check_both(&script);
}

#[test]
fn geo_sets_survive_kill_9_under_appendfsync_always() {
    let Some(mut d) = Differential::start(ALWAYS) else {
        return;
    };
    d.check(2, CITIES);
    d.check(
        2,
        "GEOSEARCHSTORE dst Sicily FROMLONLAT 15 37 BYRADIUS 200 km STOREDIST\nGEOADD Sicily XX 1 1 a",
    );
    d.kill9_and_restart();
    d.check(
        2,
        r#"
        TYPE Sicily
        GEOPOS Sicily Palermo a
        GEODIST Sicily Palermo Catania km
        ZRANGE dst 0 -1 WITHSCORES
        GEOSEARCH Sicily FROMLONLAT 15 37 BYRADIUS 200 km ASC WITHDIST
        OBJECT ENCODING Sicily
        OBJECT ENCODING dst
        "#,
    );
}

/// The commands describe themselves (COMMAND INFO / DOCS / GETKEYS) as Redis 7.0.15's do.
#[test]
fn command_metadata_matches_redis() {
    let Some(d) = Differential::start(&[]) else {
        return;
    };
    let names = "geoadd geodist geohash geopos georadius georadius_ro georadiusbymember georadiusbymember_ro geosearch geosearchstore";
    let mut script = format!("COMMAND INFO {names}\nCOMMAND DOCS {names}\n");
    script.push_str("COMMAND GETKEYS GEORADIUS k 0 0 1 km STORE dst\nCOMMAND GETKEYS GEORADIUSBYMEMBER k m 1 km STOREDIST dst\nCOMMAND GETKEYS GEOSEARCHSTORE dst src FROMLONLAT 0 0 BYRADIUS 1 km\n");
    d.check_both(&script);
}
