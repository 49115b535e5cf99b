//! A `tracing` subscriber that keeps every span and event of the test
//! process as text: `span NAME: field=value; ...` and
//! `event LEVEL: field=value; ...` (the message is the `message` field). It is
//! the process's global default, installed by the first call to
//! [`records`].
#![allow(dead_code)]

use std::fmt::Write as _;
use std::sync::{Mutex, OnceLock};

/// Every span and event recorded so far.
pub fn records() -> &'static Mutex<Vec<String>> {
    static RECORDS: OnceLock<Mutex<Vec<String>>> = OnceLock::new();
    RECORDS.get_or_init(|| {
        tracing::subscriber::set_global_default(Capture).expect("one global subscriber");
        Mutex::new(Vec::new())
    })
}

/// The warnings (not spans, not events of other levels) whose text
/// contains `text`.
pub fn warnings_mentioning(text: &str) -> Vec<String> {
    records()
        .lock()
        .unwrap()
        .iter()
        .filter(|r| r.starts_with("event WARN:") && r.contains(text))
        .cloned()
        .collect()
}

struct Capture;
struct Fields(String);

impl tracing::field::Visit for Fields {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        let _ = write!(self.0, "{}={:?}; ", field.name(), value);
    }
    fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
        let _ = write!(self.0, "{}={}; ", field.name(), value);
    }
}

impl tracing::Subscriber for Capture {
    fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, attrs: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        let mut fields = Fields(String::new());
        attrs.record(&mut fields);
        records()
            .lock()
            .unwrap()
            .push(format!("span {}: {}", attrs.metadata().name(), fields.0));
        tracing::span::Id::from_u64(1)
    }
    fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}
    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
    fn event(&self, event: &tracing::Event<'_>) {
        let mut fields = Fields(String::new());
        event.record(&mut fields);
        let level = event.metadata().level();
        records()
            .lock()
            .unwrap()
            .push(format!("event {level}: {}", fields.0));
    }
    fn enter(&self, _: &tracing::span::Id) {}
    fn exit(&self, _: &tracing::span::Id) {}
}
