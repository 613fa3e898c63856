//! `cargo xtask images`: the offline image build, and stand-ins for the official images.
//!
//! - Our images: static release binaries are built on the host (glibc, `+crt-static`), copied
//!   into `docker/bin/`, and `Dockerfile.multi` copies them into its `FROM scratch` targets
//!   (`BINARIES=prebuilt`). No image is pulled, so this works without a registry.
//! - Stand-ins (`--standins`): `redis:alpine` and `nginx:alpine` cannot be pulled here, so the
//!   profile tests run images built from Debian's `redis-server` and `nginx` binaries, each
//!   copied with the shared libraries `ldd` lists into a scratch image laid out like the
//!   official one (port, `/data`, `/etc/nginx/nginx.conf`, user ids). Users with a registry use
//!   the real images.

use std::io::Write as _;
use std::path::Path;
use std::process::{Command, Stdio};

use anyhow::{bail, Context, Result};
use clap::Args;

use crate::{cargo, prereqs, root, sh};

/// Our three images, in build order; each is a `Dockerfile.multi` target of the same name.
pub const CRATES: [&str; 3] = ["kvstore", "api", "proxy"];

/// Tags of the stand-ins; pass them as `REDIS_IMAGE` / `NGINX_IMAGE` to compose.
pub const REDIS_STANDIN: &str = "kvstack-standin/redis:alpine";
pub const NGINX_STANDIN: &str = "kvstack-standin/nginx:alpine";

/// Debian's busybox (package busybox-static), the stand-in redis image's shell.
const BUSYBOX: &str = "/bin/busybox";

#[derive(Args)]
pub struct ImagesArgs {
    /// Which images to build (default: kvstore api proxy).
    #[arg(value_parser = CRATES)]
    crates: Vec<String>,
    /// Tag for our images (`kvstack/<crate>:<tag>`), as `KVSTACK_TAG` in docker-compose.yml.
    #[arg(long, env = "KVSTACK_TAG", default_value = "latest")]
    tag: String,
    /// Also build the stand-ins for redis:alpine and nginx:alpine from Debian's binaries.
    #[arg(long)]
    standins: bool,
}

pub fn run(args: ImagesArgs) -> Result<()> {
    let standin_needs: &[prereqs::Need] = if args.standins {
        prereqs::STANDINS
    } else {
        &[]
    };
    prereqs::ensure(
        "images",
        &[prereqs::BUILD, standin_needs],
        prereqs::Docker::Engine,
        false,
    )?;
    let crates: Vec<&str> = if args.crates.is_empty() {
        CRATES.to_vec()
    } else {
        args.crates.iter().map(String::as_str).collect()
    };
    build(&crates, &args.tag)?;
    if args.standins {
        standins()?;
    }
    Ok(())
}

/// The host's target triple: naming it with `--target` keeps `+crt-static` away from build
/// scripts and proc-macros, which must stay dynamic.
fn host_triple() -> Result<String> {
    let out = Command::new("rustc").arg("-vV").output()?;
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("host: ").map(str::to_string))
        .context("rustc -vV printed no host triple")
}

/// Where `build_binaries` puts the static release binaries.
pub fn release_dir() -> Result<std::path::PathBuf> {
    Ok(root().join(format!("target/{}/release", host_triple()?)))
}

/// Builds the static release binaries of `crates` (the images ship them; the benchmarks run
/// them, so one build serves both).
pub fn build_binaries(crates: &[&str]) -> Result<()> {
    let mut cmd = cargo();
    cmd.args([
        "build",
        "--release",
        "--locked",
        "--target",
        &host_triple()?,
    ])
    .env("RUSTFLAGS", "-C target-feature=+crt-static")
    // Images ship stripped binaries (the size budget is 10 MB).
    .env("CARGO_PROFILE_RELEASE_DEBUG", "none")
    .env("CARGO_PROFILE_RELEASE_STRIP", "symbols");
    for c in crates {
        cmd.args(["-p", c]);
    }
    sh(&mut cmd)
}

/// Builds the static binaries, then one image per crate, with the classic builder or BuildKit
/// (whichever `docker build` uses).
pub fn build(crates: &[&str], tag: &str) -> Result<()> {
    build_binaries(crates)?;
    let bin = root().join("docker/bin");
    for c in crates {
        let from = release_dir()?.join(c);
        let to = bin.join(c);
        // Copy through a temporary name: the running stack may hold the old file open.
        let tmp = bin.join(format!(".{c}.tmp"));
        std::fs::copy(&from, &tmp).with_context(|| format!("copy {}", from.display()))?;
        std::fs::rename(&tmp, &to)?;
    }
    let dockerfile = offline_dockerfile()?;
    for c in crates {
        eprintln!("[xtask] docker build --target {c} -t kvstack/{c}:{tag}");
        docker_build(
            &dockerfile,
            &root(),
            &[
                "--build-arg",
                "BINARIES=prebuilt",
                "--target",
                c,
                "-t",
                &format!("kvstack/{c}:{tag}"),
            ],
        )?;
    }
    Ok(())
}

/// `Dockerfile.multi` without its online build stage, which the classic builder would
/// otherwise try to build (and pull `rust:…` for) even though no target needs it.
fn offline_dockerfile() -> Result<String> {
    let full = std::fs::read_to_string(root().join("Dockerfile.multi"))?;
    let (begin, end) = (
        "# --- online build: begin ---",
        "# --- online build: end ---",
    );
    let (Some(a), Some(b)) = (full.find(begin), full.find(end)) else {
        bail!("Dockerfile.multi lost its online build markers");
    };
    Ok(format!("{}{}", &full[..a], &full[b + end.len()..]))
}

/// `docker build -f - <context>` with the Dockerfile on stdin.
fn docker_build(dockerfile: &str, context: &Path, args: &[&str]) -> Result<()> {
    let mut child = Command::new("docker")
        .arg("build")
        .args(["-q", "-f", "-"])
        .args(args)
        .arg(context)
        .stdin(Stdio::piped())
        .spawn()
        .context("docker is not installed")?;
    child
        .stdin
        .take()
        .context("stdin")?
        .write_all(dockerfile.as_bytes())?;
    let status = child.wait()?;
    if !status.success() {
        bail!("docker build {} failed: {status}", args.join(" "));
    }
    Ok(())
}

/// Builds the two stand-in images from the host's Debian packages.
pub fn standins() -> Result<()> {
    let redis = Rootfs::new()?;
    redis.programs(&["/usr/bin/redis-server", "/usr/bin/redis-cli"])?;
    redis.link("/usr/bin/redis-sentinel", "redis-server")?;
    // redis:alpine has a shell (busybox) and an entrypoint that runs `redis-server` when the
    // command is only flags or a .conf file; the `replicated` profile relies on both.
    redis.busybox()?;
    redis.file("usr/local/bin/docker-entrypoint.sh", REDIS_ENTRYPOINT)?;
    redis.executable("usr/local/bin/docker-entrypoint.sh")?;
    // redis:alpine's user and group ids, so a redis_data volume moves between images.
    redis.file(
        "etc/passwd",
        "root:x:0:0:root:/root:/sbin/nologin\nredis:x:999:1000:redis:/data:/sbin/nologin\n",
    )?;
    redis.file("etc/group", "root:x:0:\nredis:x:1000:redis\n")?;
    redis.dir("data")?;
    redis.tmp()?;
    redis.image(
        REDIS_STANDIN,
        r#"FROM scratch
COPY rootfs/ /
COPY --chown=999:1000 data/ /data/
USER 999:1000
WORKDIR /data
VOLUME /data
EXPOSE 6379
ENTRYPOINT ["docker-entrypoint.sh"]
CMD ["redis-server"]
"#,
    )?;

    let nginx = Rootfs::new()?;
    nginx.programs(&["/usr/sbin/nginx"])?;
    nginx.copy("/etc/nginx/mime.types")?;
    nginx.file(
        "etc/passwd",
        "root:x:0:0:root:/root:/sbin/nologin\nnginx:x:101:101:nginx:/var/cache/nginx:/sbin/nologin\n\
         nobody:x:65534:65534:nobody:/:/sbin/nologin\n",
    )?;
    nginx.file(
        "etc/group",
        "root:x:0:\nnginx:x:101:nginx\nnogroup:x:65534:\n",
    )?;
    nginx.file(
        "etc/nginx/nginx.conf",
        "events {}\nhttp { server { listen 80; return 200 'stand-in for nginx:alpine\\n'; } }\n",
    )?;
    // Debian's nginx keeps its temp files in /var/lib/nginx and writes its pid to /run; the
    // official image sends the logs to the container's output.
    for dir in [
        "rootfs/var/lib/nginx/body",
        "rootfs/run",
        "rootfs/var/log/nginx",
    ] {
        nginx.dir(dir)?;
    }
    nginx.tmp()?;
    std::os::unix::fs::symlink(
        "/dev/stdout",
        nginx.0.path().join("rootfs/var/log/nginx/access.log"),
    )?;
    std::os::unix::fs::symlink(
        "/dev/stderr",
        nginx.0.path().join("rootfs/var/log/nginx/error.log"),
    )?;
    nginx.image(
        NGINX_STANDIN,
        r#"FROM scratch
COPY rootfs/ /
EXPOSE 80
STOPSIGNAL SIGQUIT
CMD ["nginx", "-g", "daemon off;"]
"#,
    )
}

/// redis:alpine's entrypoint, less its switch from root to the redis user (the stand-in runs
/// as that user already).
const REDIS_ENTRYPOINT: &str = r#"#!/bin/sh
set -e
# first arg is `-f` or `--some-option`, or first arg is `something.conf`
if [ "${1#-}" != "$1" ] || [ "${1%.conf}" != "$1" ]; then
	set -- redis-server "$@"
fi
um="$(umask)"
if [ "$um" = '0022' ]; then
	umask 0077
fi
exec "$@"
"#;

/// A build context whose `rootfs/` becomes an image's file system.
struct Rootfs(tempfile::TempDir);

impl Rootfs {
    fn new() -> Result<Rootfs> {
        let dir = tempfile::Builder::new()
            .prefix("kvstack-standin-")
            .tempdir()?;
        Ok(Rootfs(dir))
    }

    /// Copies a host file to the same path under rootfs/.
    fn copy(&self, host: &str) -> Result<()> {
        let to = self
            .0
            .path()
            .join("rootfs")
            .join(host.trim_start_matches('/'));
        std::fs::create_dir_all(to.parent().expect("absolute path"))?;
        std::fs::copy(host, &to).with_context(|| format!("{host} (is its package installed?)"))?;
        Ok(())
    }

    /// An empty directory, relative to the build context.
    fn dir(&self, path: &str) -> Result<()> {
        Ok(std::fs::create_dir_all(self.0.path().join(path))?)
    }

    /// A world-writable, sticky /tmp, as the official images have.
    fn tmp(&self) -> Result<()> {
        use std::os::unix::fs::PermissionsExt;
        let tmp = self.0.path().join("rootfs/tmp");
        std::fs::create_dir_all(&tmp)?;
        Ok(std::fs::set_permissions(
            tmp,
            std::fs::Permissions::from_mode(0o1777),
        )?)
    }

    /// A symbolic link at `path` (absolute in the image) pointing to `target`.
    fn link(&self, path: &str, target: &str) -> Result<()> {
        let at = self
            .0
            .path()
            .join("rootfs")
            .join(path.trim_start_matches('/'));
        std::fs::create_dir_all(at.parent().expect("absolute path"))?;
        Ok(std::os::unix::fs::symlink(target, at)?)
    }

    fn executable(&self, path: &str) -> Result<()> {
        use std::os::unix::fs::PermissionsExt;
        Ok(std::fs::set_permissions(
            self.0.path().join("rootfs").join(path),
            std::fs::Permissions::from_mode(0o755),
        )?)
    }

    /// Debian's busybox as /bin/busybox with a link per applet in /bin, as Alpine has it.
    fn busybox(&self) -> Result<()> {
        self.programs(&[BUSYBOX])?;
        let out = Command::new(BUSYBOX).arg("--list").output()?;
        if !out.status.success() {
            bail!("{BUSYBOX} --list failed");
        }
        for applet in String::from_utf8_lossy(&out.stdout).lines() {
            if applet != "busybox" {
                self.link(&format!("/bin/{applet}"), "busybox")?;
            }
        }
        Ok(())
    }

    fn file(&self, path: &str, text: &str) -> Result<()> {
        let to = self.0.path().join("rootfs").join(path);
        std::fs::create_dir_all(to.parent().expect("relative path"))?;
        Ok(std::fs::write(to, text)?)
    }

    /// Copies programs with every shared library `ldd` says they load, the loader included
    /// (none for a static program).
    fn programs(&self, programs: &[&str]) -> Result<()> {
        for program in programs {
            self.copy(program)?;
            let out = Command::new("ldd").arg(program).output()?;
            if String::from_utf8_lossy(&out.stderr).contains("not a dynamic executable") {
                continue; // static: nothing to add
            }
            if !out.status.success() {
                bail!("ldd {program} failed");
            }
            for line in String::from_utf8_lossy(&out.stdout).lines() {
                // "libssl.so.3 => /lib/x86_64-linux-gnu/libssl.so.3 (0x...)" or
                // "/lib64/ld-linux-x86-64.so.2 (0x...)"; linux-vdso has no file.
                let path = line
                    .split("=>")
                    .last()
                    .and_then(|s| s.split_whitespace().next())
                    .filter(|p| p.starts_with('/'));
                if let Some(path) = path {
                    self.copy(path)?;
                }
            }
        }
        Ok(())
    }

    fn image(&self, tag: &str, dockerfile: &str) -> Result<()> {
        eprintln!("[xtask] docker build -t {tag}");
        // No cache: the classic builder's cache key ignores empty directories (/tmp, /run).
        docker_build(dockerfile, self.0.path(), &["--no-cache", "-t", tag])
    }
}
