//! LOLWUT [VERSION v] [args] (Redis's `lolwut.c`, `lolwut5.c`, `lolwut6.c`): computer art
//! and the version. Redis 7.0's own piece is the version line; VERSION 5 draws Georg Nees's
//! "Schotter" in Braille characters and VERSION 6 a skyline in terminal colours, both with
//! Redis's canvas, line and square code. Their random parts (rows below the second, windows
//! and buildings) differ from run to run, in Redis as here.

use bytes::Bytes;
use rand::Rng;

use super::args::{c_is, int_arg};
use super::{acl, flags, CommandSpec, Ctx};
use crate::protocol::Reply;

#[rustfmt::skip]
pub(crate) static COMMANDS: &[CommandSpec] = &[
    CommandSpec::new("lolwut", -1, flags![READONLY, FAST], acl![], lolwut),
];

/// LOLWUT [VERSION version] [...]
fn lolwut(_: &mut Ctx, args: &[Bytes]) -> Result<Reply, Reply> {
    let (version, rest) = if args.len() >= 3 && c_is(&args[1], "version") {
        // Redis prints the number as `%u.0.0` and dispatches on that text.
        (int_arg(&args[2])? as u32, &args[3..])
    } else {
        (7, &args[1..])
    };
    let art = match version {
        5 => schotter(rest)?,
        6 => skyline(rest)?,
        _ => String::new(),
    };
    let version_line = format!("Redis ver. {}\n", crate::config::REDIS_VERSION);
    Ok(Reply::Verbatim(format!("{art}{version_line}").into()))
}

/// The optional numeric arguments, each clamped to `1..=max`, with Redis's error.
fn numbers<const N: usize>(
    args: &[Bytes],
    mut values: [i64; N],
    max: [i64; N],
) -> Result<[i64; N], Reply> {
    for (i, arg) in args.iter().take(N).enumerate() {
        values[i] = int_arg(arg)?;
    }
    for (value, max) in values.iter_mut().zip(max) {
        *value = (*value).clamp(1, max);
    }
    Ok(values)
}

/// C's `rand()`: 0 ..= RAND_MAX.
fn rand() -> i32 {
    rand::thread_rng().gen_range(0..=i32::MAX)
}

/// Redis's `lwCanvas`: one byte per pixel.
struct Canvas {
    width: i32,
    height: i32,
    pixels: Vec<u8>,
}

impl Canvas {
    fn new(width: i32, height: i32, color: u8) -> Canvas {
        Canvas {
            width,
            height,
            pixels: vec![color; (width * height) as usize],
        }
    }

    fn set(&mut self, x: i32, y: i32, color: u8) {
        if (0..self.width).contains(&x) && (0..self.height).contains(&y) {
            self.pixels[(x + y * self.width) as usize] = color;
        }
    }

    fn get(&self, x: i32, y: i32) -> u8 {
        if (0..self.width).contains(&x) && (0..self.height).contains(&y) {
            self.pixels[(x + y * self.width) as usize]
        } else {
            0
        }
    }

    /// Bresenham, as `lwDrawLine`.
    fn line(&mut self, mut x1: i32, mut y1: i32, x2: i32, y2: i32, color: u8) {
        let (dx, dy) = ((x2 - x1).abs(), (y2 - y1).abs());
        let sx = if x1 < x2 { 1 } else { -1 };
        let sy = if y1 < y2 { 1 } else { -1 };
        let mut err = dx - dy;
        loop {
            self.set(x1, y1, color);
            if x1 == x2 && y1 == y2 {
                break;
            }
            let e2 = err * 2;
            if e2 > -dy {
                err -= dy;
                x1 += sx;
            }
            if e2 < dx {
                err += dx;
                y1 += sy;
            }
        }
    }

    /// `lwDrawSquare`, with C's float and double conversions.
    fn square(&mut self, x: i32, y: i32, size: f32, angle: f32, color: u8) {
        // Redis's truncated constant, not SQRT_2: the rounding below depends on it.
        #[allow(clippy::approx_constant)]
        let size = (f64::from(size) / 1.4142135623) as f32;
        let size = f64::from(size).round() as f32;
        let mut k = (std::f64::consts::PI / 4.0 + f64::from(angle)) as f32;
        let (mut px, mut py) = ([0i32; 4], [0i32; 4]);
        for j in 0..4 {
            let kd = f64::from(k);
            px[j] = (kd.sin() * f64::from(size) + f64::from(x)).round() as i32;
            py[j] = (kd.cos() * f64::from(size) + f64::from(y)).round() as i32;
            k = (f64::from(k) + std::f64::consts::PI / 2.0) as f32;
        }
        for j in 0..4 {
            self.line(px[j], py[j], px[(j + 1) % 4], py[(j + 1) % 4], color);
        }
    }
}

/// LOLWUT VERSION 5 [cols [squares-per-row [squares-per-col]]]: Schotter.
fn schotter(args: &[Bytes]) -> Result<String, Reply> {
    let [cols, per_row, per_col] = numbers(args, [66, 8, 12], [1000, 200, 200])?;
    let (cols, per_row, per_col) = (cols as i32, per_row as i32, per_col as i32);
    let width = cols * 2;
    let padding = if width > 4 { 2 } else { 0 };
    let side = (width - padding * 2) as f32 / per_row as f32;
    let height = (side * per_col as f32 + (padding * 2) as f32) as i32;
    let mut canvas = Canvas::new(width, height, 0);
    for y in 0..per_col {
        for x in 0..per_row {
            let mut sx = (x as f32 * side + side / 2.0 + padding as f32) as i32;
            let mut sy = (y as f32 * side + side / 2.0 + padding as f32) as i32;
            let mut angle = 0.0f32;
            if y > 1 {
                let random = || rand() as f32 / i32::MAX as f32 / per_col as f32 * y as f32;
                let (mut r1, mut r2, mut r3) = (random(), random(), random());
                if rand() % 2 == 1 {
                    r1 = -r1;
                }
                if rand() % 2 == 1 {
                    r2 = -r2;
                }
                if rand() % 2 == 1 {
                    r3 = -r3;
                }
                angle = r1;
                sx = (sx as f32 + r2 * side / 3.0) as i32;
                sy = (sy as f32 + r3 * side / 3.0) as i32;
            }
            canvas.square(sx, sy, side, angle, 1);
        }
    }
    // Two by four pixels per Braille character (U+2800 + the dot bits).
    let mut text = String::new();
    for y in (0..canvas.height).step_by(4) {
        for x in (0..canvas.width).step_by(2) {
            let dots = [
                (0, 0, 0),
                (0, 1, 1),
                (0, 2, 2),
                (1, 0, 3),
                (1, 1, 4),
                (1, 2, 5),
                (0, 3, 6),
                (1, 3, 7),
            ];
            let byte = dots
                .iter()
                .filter(|(dx, dy, _)| canvas.get(x + dx, y + dy) != 0)
                .fold(0u32, |b, (_, _, bit)| b | (1 << bit));
            text.push(char::from_u32(0x2800 + byte).unwrap_or(' '));
        }
        if y != canvas.height - 1 {
            text.push('\n');
        }
    }
    text.push_str("\nGeorg Nees - schotter, plotter on paper, 1968. ");
    Ok(text)
}

/// LOLWUT VERSION 6 [cols [rows]]: a skyline.
fn skyline(args: &[Bytes]) -> Result<String, Reply> {
    let [cols, rows] = numbers(args, [80, 20], [1000, 1000])?;
    let mut canvas = Canvas::new(cols as i32, rows as i32, 3);
    let (width, height) = (canvas.width, canvas.height);
    for color in [2u8, 1] {
        let mut offset = -10;
        while offset < width {
            offset += rand() % 8;
            let building_width = 10 + rand() % 9;
            let building_height = if color == 2 {
                height / 2 + (rand() % height) / 2
            } else {
                height / 2 + (rand() % height) / 3
            };
            skyscraper(
                &mut canvas,
                offset,
                building_width,
                building_height,
                false,
                color,
            );
            offset += if color == 2 {
                building_width / 2
            } else {
                building_width + 1
            };
        }
    }
    let mut offset = -10;
    while offset < width {
        offset += rand() % 8;
        let mut building_width = 5 + rand() % 14;
        if building_width % 4 != 0 {
            building_width += building_width % 3;
        }
        let building_height = height / 3 + (rand() % height) / 2;
        skyscraper(
            &mut canvas,
            offset,
            building_width,
            building_height,
            true,
            0,
        );
        offset += building_width + 5;
    }
    let mut text = String::new();
    for y in 0..canvas.height {
        for x in 0..canvas.width {
            let escape = match canvas.get(x, y) {
                1 => "0;90;100m",
                2 => "0;37;47m",
                3 => "0;97;107m",
                _ => "0;30;40m",
            };
            text.push_str(&format!("\x1b[{escape} \x1b[0m"));
        }
        if y != canvas.height - 1 {
            text.push('\n');
        }
    }
    text.push_str(
        "\nDedicated to the 8 bit game developers of past and present.\n\
         Original 8 bit image from Plaguemon by hikikomori. ",
    );
    Ok(text)
}

/// `generateSkyscraper`: a building from the bottom row up, its roof two pixels narrower on
/// each side, windows two pixels wide in random greys.
fn skyscraper(canvas: &mut Canvas, xoff: i32, width: i32, height: i32, windows: bool, color: u8) {
    let starty = canvas.height - 1;
    let endy = starty - height + 1;
    for y in (endy..=starty).rev() {
        for x in xoff..xoff + width {
            if y == endy && (x <= xoff + 1 || x >= xoff + width - 2) {
                continue;
            }
            let mut pixel = color;
            if windows && x > xoff + 1 && x < xoff + width - 2 && y > endy + 1 && y < starty - 1 {
                let relx = x - (xoff + 1);
                let rely = y - (endy + 1);
                if (relx / 2) % 2 != 0 && rely % 2 != 0 {
                    loop {
                        pixel = 1 + (rand() % 2) as u8;
                        if pixel != color {
                            break;
                        }
                    }
                    if relx % 2 != 0 {
                        pixel = canvas.get(x - 1, y);
                    }
                }
            }
            canvas.set(x, y, pixel);
        }
    }
}
