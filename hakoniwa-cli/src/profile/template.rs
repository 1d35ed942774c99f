//! Stage 2: a profile file is a minijinja template, rendered before it is
//! read as TOML. The functions and variables are those hakoniwa 1.x
//! profiles use.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use minijinja::value::ValueKind;
use minijinja::{Environment, Error, ErrorKind, Value};

/// Renders profile files. Template names in `extends`, `include` and
/// `import` are relative to the directory of the profile given on the
/// command line, as in hakoniwa 1.x, or absolute.
pub(crate) struct Renderer {
    env: Environment<'static>,
    base: PathBuf,
}

/// The most steps a profile's rendering takes, its includes with it: far
/// more than a profile needs (the examples take a few hundred).
const FUEL: u64 = 1_000_000;

/// A rendering failure: the template it happened in and the line there.
#[derive(Debug)]
pub(crate) struct RenderError {
    pub file: Option<PathBuf>,
    pub line: Option<usize>,
    pub message: String,
}

impl Renderer {
    /// A renderer for the profile whose directory is `base`.
    pub(crate) fn new(base: &Path) -> Self {
        let mut env = Environment::new();
        // A loop that does not end, or nested loops over large ranges, is an
        // error rather than a run that never starts.
        env.set_fuel(Some(FUEL));
        // A file without template syntax renders to itself, so that TOML
        // errors point at the lines the author wrote.
        env.set_keep_trailing_newline(true);
        // `rw = {{ path_exists(p) }}` must be TOML: `true`, not `True`.
        env.set_formatter(|out, state, value| {
            if value.kind() == ValueKind::Bool {
                let text = if value.is_true() { "true" } else { "false" };
                return out
                    .write_str(text)
                    .map_err(|_| Error::new(ErrorKind::WriteFailure, "failed to write output"));
            }
            minijinja::escape_formatter(out, state, value)
        });
        // hakoniwa 1.x profiles write `{{ HOME }}`: the caller's environment
        // variables are globals. The functions below take precedence.
        for (name, value) in std::env::vars() {
            env.add_global(name, value);
        }
        env.add_function("os_env", os_env);
        env.add_function("path_exists", path_exists);
        env.add_function("path_is_dir", path_is_dir);
        env.add_function("path_is_symlink", path_is_symlink);
        env.add_function("fs_read_link", fs_read_link);
        env.add_function("fs_glob", fs_glob);
        env.add_function("fs_findup", fs_findup);
        env.add_function("fs_mkdir", fs_mkdir);
        env.add_function("fs_touch", fs_touch);
        env.add_function("fs_xdg_user_dir", fs_xdg_user_dir);
        let root = base.to_path_buf();
        env.set_loader(move |name| match crate::read::text(&root.join(name)) {
            Ok(text) => Ok(Some(text)),
            Err(err) if err.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(err) => Err(Error::new(
                ErrorKind::InvalidOperation,
                format!(
                    "failed to read template {}: {err}",
                    root.join(name).display()
                ),
            )),
        });
        Self {
            env,
            base: base.to_path_buf(),
        }
    }

    /// Renders `text`, the contents of `file`, with `__dir__` set to the
    /// file's directory.
    pub(crate) fn render(&self, file: &Path, text: &str) -> Result<String, RenderError> {
        let dir = file.parent().unwrap_or(Path::new("/"));
        let name = file.to_string_lossy();
        let context = minijinja::context! { __dir__ => dir.to_string_lossy() };
        self.env
            .render_named_str(&name, text, context)
            .map_err(|err| {
                let place = innermost(&err);
                RenderError {
                    file: place.name().map(|name| self.base.join(name)),
                    line: place.line(),
                    message: describe(place),
                }
            })
    }
}

/// The error that started it: an error in an included template comes
/// wrapped in one about the `include` statement.
fn innermost(err: &Error) -> &Error {
    let mut place = err;
    while let Some(inner) = std::error::Error::source(place).and_then(|s| s.downcast_ref::<Error>())
    {
        place = inner;
    }
    place
}

/// The error's kind and detail, and the cause a function attached.
fn describe(err: &Error) -> String {
    if err.kind() == ErrorKind::OutOfFuel {
        return format!("the template takes more than {FUEL} steps (a loop that does not end?)");
    }
    let mut message = err.kind().to_string();
    if let Some(detail) = err.detail() {
        message = format!("{message}: {detail}");
    }
    let mut source = std::error::Error::source(err);
    while let Some(cause) = source {
        message = format!("{message}: {cause}");
        source = cause.source();
    }
    message
}

/// A function's failure on a host path: the function, the path, why.
fn failed(
    function: &str,
    path: &str,
    err: impl std::error::Error + Send + Sync + 'static,
) -> Error {
    Error::new(ErrorKind::InvalidOperation, format!("{function}({path:?})")).with_source(err)
}

/// The caller's variable `name`, or `""` when it is unset.
fn os_env(name: String) -> String {
    std::env::var(name).unwrap_or_default()
}

fn path_exists(path: String) -> bool {
    Path::new(&path).try_exists().unwrap_or(false)
}

fn path_is_dir(path: String) -> bool {
    Path::new(&path).is_dir()
}

fn path_is_symlink(path: String) -> bool {
    Path::new(&path).is_symlink()
}

/// Where the symbolic link `path` points.
fn fs_read_link(path: String) -> Result<String, Error> {
    fs::read_link(&path)
        .map(|target| target.to_string_lossy().into_owned())
        .map_err(|err| failed("fs_read_link", &path, err))
}

/// The paths that match `pattern`, sorted.
fn fs_glob(pattern: String) -> Result<Value, Error> {
    let paths = glob::glob(&pattern).map_err(|err| failed("fs_glob", &pattern, err))?;
    let mut found = Vec::new();
    for path in paths {
        let path = path.map_err(|err| failed("fs_glob", &pattern, err))?;
        found.push(path.to_string_lossy().into_owned());
    }
    Ok(Value::from(found))
}

/// The first `name` in the current directory or one of its parents, or
/// `""` when there is none.
fn fs_findup(name: String) -> Result<String, Error> {
    let cwd = std::env::current_dir().map_err(|err| failed("fs_findup", &name, err))?;
    Ok(cwd
        .ancestors()
        .map(|dir| dir.join(&name))
        .find(|path| path.try_exists().unwrap_or(false))
        .map(|path| path.to_string_lossy().into_owned())
        .unwrap_or_default())
}

/// Creates the directory `path` on the host (and its parents); returns it.
fn fs_mkdir(path: String) -> Result<String, Error> {
    fs::create_dir_all(&path).map_err(|err| failed("fs_mkdir", &path, err))?;
    Ok(path)
}

/// Creates the file `path` on the host if it is missing; returns it.
fn fs_touch(path: String) -> Result<String, Error> {
    fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .map_err(|err| failed("fs_touch", &path, err))?;
    Ok(path)
}

/// The XDG user directory `name` (`DOWNLOAD`, `DOCUMENTS`…): from
/// `user-dirs.dirs` in `$XDG_CONFIG_HOME` (default `~/.config`), else the
/// usual English folder in `$HOME`.
fn fs_xdg_user_dir(name: String) -> Result<String, Error> {
    let home = std::env::var("HOME").unwrap_or_default();
    let config_home = std::env::var("XDG_CONFIG_HOME")
        .ok()
        .filter(|dir| !dir.is_empty())
        .unwrap_or_else(|| format!("{home}/.config"));
    let file = Path::new(&config_home).join("user-dirs.dirs");
    let listed = match crate::read::text(&file) {
        Ok(text) => xdg_user_dir(&text, &name, &home),
        Err(err) if err.kind() == io::ErrorKind::NotFound => None,
        Err(err) => return Err(failed("fs_xdg_user_dir", &name, err)),
    };
    if let Some(dir) = listed {
        return Ok(dir);
    }
    let folder = match name.as_str() {
        "DESKTOP" => "Desktop",
        "DOCUMENTS" => "Documents",
        "DOWNLOAD" => "Downloads",
        "MUSIC" => "Music",
        "PICTURES" => "Pictures",
        "PUBLICSHARE" => "Public",
        "TEMPLATES" => "Templates",
        "VIDEOS" => "Videos",
        _ => {
            return Err(Error::new(
                ErrorKind::InvalidOperation,
                format!(
                    "fs_xdg_user_dir({name:?}): not in {} and not a standard name \
                     (DESKTOP, DOCUMENTS, DOWNLOAD, MUSIC, PICTURES, PUBLICSHARE, TEMPLATES, VIDEOS)",
                    file.display()
                ),
            ))
        }
    };
    Ok(format!("{home}/{folder}"))
}

/// `XDG_<NAME>_DIR="$HOME/…"` in the text of `user-dirs.dirs`, with
/// `$HOME` expanded.
fn xdg_user_dir(text: &str, name: &str, home: &str) -> Option<String> {
    let key = format!("XDG_{name}_DIR");
    text.lines()
        .map(str::trim)
        .filter(|line| !line.starts_with('#'))
        .filter_map(|line| line.split_once('='))
        .find(|(found, _)| found.trim() == key)
        .map(|(_, value)| value.trim().trim_matches('"').replace("$HOME", home))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "hakoniwa-template-test.{}.{name}",
            std::process::id()
        ));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn render(dir: &Path, text: &str) -> Result<String, RenderError> {
        Renderer::new(dir).render(&dir.join("profile.toml"), text)
    }

    /// `**` on floats calls the command's own `pow` (src/sys.rs).
    #[test]
    fn powers_of_floats_and_integers() {
        let dir = scratch("pow");
        assert_eq!(
            render(
                &dir,
                "{{ 2.0 ** 0.5 }} {{ 9.0 ** 0.5 }} {{ 2 ** 10 }} {{ 2.0 ** -1 }}"
            )
            .unwrap(),
            "1.4142135623730951 3.0 1024 0.5"
        );
    }

    #[test]
    fn dir_is_the_directory_of_the_file() {
        let dir = scratch("dir");
        assert_eq!(
            render(&dir, "{{ __dir__ }}").unwrap(),
            dir.to_string_lossy()
        );
    }

    #[test]
    fn environment_variables_are_globals_and_os_env() {
        let dir = scratch("env");
        let home = std::env::var("HOME").unwrap_or_default();
        assert_eq!(render(&dir, "{{ HOME }}").unwrap(), home);
        assert_eq!(render(&dir, "{{ os_env('HOME') }}").unwrap(), home);
        assert_eq!(
            render(&dir, "[{{ os_env('HAKONIWA_SURELY_UNSET') }}]").unwrap(),
            "[]"
        );
    }

    /// Nested loops over large ranges would take hours (a hang for the
    /// profile fuzz target, seen by hand first).
    #[test]
    fn a_template_that_runs_too_long_stops() {
        let dir = scratch("fuel");
        let err = render(
            &dir,
            "{% for a in range(100000) %}{% for b in range(100000) %}{% endfor %}{% endfor %}",
        )
        .unwrap_err();
        assert_eq!(
            err.message,
            "the template takes more than 1000000 steps (a loop that does not end?)"
        );
    }

    #[test]
    fn path_predicates() {
        let dir = scratch("path");
        fs::write(dir.join("file"), "").unwrap();
        std::os::unix::fs::symlink("file", dir.join("link")).unwrap();
        let d = dir.to_string_lossy();
        let text = format!(
            "{{{{ path_exists('{d}/file') }}}} {{{{ path_exists('{d}/none') }}}} \
             {{{{ path_is_dir('{d}') }}}} {{{{ path_is_dir('{d}/file') }}}} \
             {{{{ path_is_symlink('{d}/link') }}}} {{{{ path_is_symlink('{d}/file') }}}} \
             {{{{ fs_read_link('{d}/link') }}}}"
        );
        assert_eq!(
            render(&dir, &text).unwrap(),
            "true false true false true false file"
        );
        let err = render(&dir, &format!("\n{{{{ fs_read_link('{d}/file') }}}}")).unwrap_err();
        assert_eq!(err.line, Some(2));
        assert!(err.message.contains("fs_read_link"), "{}", err.message);
        assert!(err.message.contains("Invalid argument"), "{}", err.message);
    }

    #[test]
    fn glob_lists_matches_in_order() {
        let dir = scratch("glob");
        for name in ["b.conf", "a.conf", "c.txt"] {
            fs::write(dir.join(name), "").unwrap();
        }
        let d = dir.to_string_lossy();
        let text = format!(
            "{{% for p in fs_glob('{d}/*.conf') %}}{{{{ p | replace('{d}/', '') }}}} {{% endfor %}}"
        );
        assert_eq!(render(&dir, &text).unwrap(), "a.conf b.conf ");
        assert!(render(&dir, "{{ fs_glob('[') }}").is_err());
    }

    #[test]
    fn findup_searches_from_the_current_directory_upward() {
        let dir = scratch("findup");
        // The test runs in the crate's directory, inside the workspace.
        let found = render(&dir, "{{ fs_findup('Cargo.lock') }}").unwrap();
        assert!(found.ends_with("/Cargo.lock"), "{found}");
        assert_eq!(
            render(&dir, "{{ fs_findup('no-such-file.hakoniwa') }}").unwrap(),
            ""
        );
    }

    #[test]
    fn mkdir_and_touch_create_on_the_host_and_return_the_path() {
        let dir = scratch("create");
        let d = dir.to_string_lossy();
        let text = format!("{{{{ fs_mkdir('{d}/a/b') }}}} {{{{ fs_touch('{d}/a/b/f') }}}}");
        assert_eq!(render(&dir, &text).unwrap(), format!("{d}/a/b {d}/a/b/f"));
        assert!(dir.join("a/b").is_dir());
        assert!(dir.join("a/b/f").is_file());
        // Touching again keeps the contents.
        fs::write(dir.join("a/b/f"), "kept").unwrap();
        render(&dir, &format!("{{{{ fs_touch('{d}/a/b/f') }}}}")).unwrap();
        assert_eq!(fs::read_to_string(dir.join("a/b/f")).unwrap(), "kept");
        let err = render(&dir, &format!("{{{{ fs_mkdir('{d}/a/b/f/g') }}}}")).unwrap_err();
        assert!(err.message.contains("fs_mkdir"), "{}", err.message);
    }

    #[test]
    fn xdg_user_dirs_are_read_from_user_dirs_file() {
        let text =
            "# written by xdg-user-dirs-update\nXDG_DOWNLOAD_DIR=\"$HOME/Telechargements\"\n";
        assert_eq!(
            xdg_user_dir(text, "DOWNLOAD", "/home/a").as_deref(),
            Some("/home/a/Telechargements")
        );
        assert_eq!(xdg_user_dir(text, "MUSIC", "/home/a"), None);
        let dir = scratch("xdg");
        let home = std::env::var("HOME").unwrap_or_default();
        let got = render(&dir, "{{ fs_xdg_user_dir('DESKTOP') }}").unwrap();
        assert!(got.starts_with(&home), "{got}");
        assert!(render(&dir, "{{ fs_xdg_user_dir('NOPE') }}").is_err());
    }

    #[test]
    fn templates_extend_include_and_import_relative_to_the_profile() {
        let dir = scratch("extends");
        fs::create_dir(dir.join("abstractions")).unwrap();
        fs::write(
            dir.join("abstractions/base.toml"),
            "hostname = \"{% block host %}base{% endblock %}\"\n",
        )
        .unwrap();
        fs::write(dir.join("abstractions/part.toml"), "# part\n").unwrap();
        fs::write(
            dir.join("abstractions/macros.toml"),
            "{% macro bind(p) %}{ source = \"{{ p }}\" }{% endmacro %}",
        )
        .unwrap();
        let text = "{% extends 'abstractions/base.toml' %}{% block host %}mine{% endblock %}";
        assert_eq!(render(&dir, text).unwrap(), "hostname = \"mine\"\n");
        assert_eq!(
            render(&dir, "{% include 'abstractions/part.toml' %}").unwrap(),
            "# part\n"
        );
        let text = "{% import 'abstractions/macros.toml' as m %}{{ m.bind('/usr') }}";
        assert_eq!(render(&dir, text).unwrap(), "{ source = \"/usr\" }");
    }

    #[test]
    fn errors_name_the_template_and_line() {
        let dir = scratch("errors");
        let err = render(&dir, "a = 1\nb = {{ 1 +  }}\n").unwrap_err();
        assert_eq!(err.file, Some(dir.join("profile.toml")));
        assert_eq!(err.line, Some(2));
        assert!(err.message.starts_with("syntax error"), "{}", err.message);

        fs::write(dir.join("bad.toml"), "ok\n{% endif %}\n").unwrap();
        let err = render(&dir, "{% include 'bad.toml' %}").unwrap_err();
        assert_eq!(err.file, Some(dir.join("bad.toml")));
        assert_eq!(err.line, Some(2));

        let err = render(&dir, "{% include 'missing.toml' %}").unwrap_err();
        assert!(err.message.contains("missing.toml"), "{}", err.message);
    }
}
