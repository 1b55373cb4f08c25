//! Where the server's log lines go and what they look like: stderr, as text or JSON lines, at
//! the level `KAPSTONE_LOG` (or `RUST_LOG`) asks for. What goes into them is decided where they
//! are written; every line carries ids only, never health data.

use std::str::FromStr;
use tracing::Subscriber;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;

/// The level when neither variable is set: one line per request, plus warnings and errors.
const DEFAULT_FILTER: &str = "info";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    /// One JSON object per line, for log collectors.
    Json,
}

impl FromStr for LogFormat {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "text" => Ok(LogFormat::Text),
            "json" => Ok(LogFormat::Json),
            other => Err(format!(
                "'{other}' is not a log format; allowed values: text, json"
            )),
        }
    }
}

/// The filter from `KAPSTONE_LOG`, else `RUST_LOG`, else `info`; a directive that does not
/// parse is refused rather than silently logging less.
pub fn filter_from_env() -> Result<EnvFilter, String> {
    let (name, directives) = ["KAPSTONE_LOG", "RUST_LOG"]
        .into_iter()
        .find_map(|name| {
            std::env::var(name)
                .ok()
                .filter(|v| !v.trim().is_empty())
                .map(|v| (name, v))
        })
        .unwrap_or(("default", DEFAULT_FILTER.to_string()));
    EnvFilter::try_new(&directives).map_err(|e| format!("{name}: '{directives}': {e}"))
}

/// The subscriber the server logs through, writing to `writer` (stderr in production, a
/// buffer in tests, so the tests check the real format).
pub fn subscriber<W>(
    format: LogFormat,
    filter: EnvFilter,
    writer: W,
) -> Box<dyn Subscriber + Send + Sync>
where
    W: for<'a> MakeWriter<'a> + Send + Sync + 'static,
{
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer);
    match format {
        LogFormat::Text => Box::new(builder.finish()),
        LogFormat::Json => Box::new(
            builder
                .json()
                .flatten_event(true)
                .with_current_span(true)
                .with_span_list(false)
                .finish(),
        ),
    }
}

/// Installs the process-wide subscriber, logging to stderr.
pub fn init(format: LogFormat) -> Result<(), String> {
    tracing::subscriber::set_global_default(subscriber(format, filter_from_env()?, std::io::stderr))
        .map_err(|e| format!("cannot set up logging: {e}"))
}
