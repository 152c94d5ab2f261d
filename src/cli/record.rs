//! `switchyard record`: runs one unified call against a live upstream (or a sandbox, with
//! `--upstream`), writes the fixture with every secret replaced by a fake value, then
//! replays it to write its snapshot.

use super::{EXIT_INVALID, EXIT_OK, EXIT_USAGE};
use std::collections::HashMap;
use std::path::PathBuf;
use switchyard_compiler::project::Options;
use switchyard_fixtures::record::{self, RecordOptions};
use switchyard_fixtures::replay::{Call, CallMethod, Pages};
use switchyard_fixtures::snapshot::Mode;
use switchyard_fixtures::suite::{self, Case, Project};

#[derive(clap::Args, Debug)]
pub struct RecordArgs {
    /// The integrations directory.
    #[arg(default_value = "integrations")]
    pub dir: PathBuf,
    /// Directory of unified model schemas (default: DIR/../schemas/models).
    #[arg(long)]
    pub models: Option<PathBuf>,
    /// The case name: the fixture is written to DIR/<integration>/fixtures/<case>.yaml.
    #[arg(long)]
    pub case: String,
    #[arg(long)]
    pub integration: String,
    #[arg(long)]
    pub model: String,
    #[arg(long)]
    pub resource: String,
    /// list, get, create, update or delete.
    #[arg(long, value_parser = ["list", "get", "create", "update", "delete"])]
    pub method: String,
    #[arg(long)]
    pub id: Option<String>,
    #[arg(long)]
    pub page_size: Option<u64>,
    /// Pages to walk (a number, or `all`).
    #[arg(long)]
    pub pages: Option<String>,
    /// A query parameter of the unified call, NAME=VALUE (repeatable).
    #[arg(long = "query", value_name = "NAME=VALUE")]
    pub query: Vec<String>,
    /// The unified request body (JSON), for create and update.
    #[arg(long)]
    pub body: Option<String>,
    /// The live account: a YAML or JSON file shaped like a fixture's `account`. Its secrets
    /// are never written: the fixture gets fake values.
    #[arg(long)]
    pub account: PathBuf,
    /// Send the integration's requests to another origin, NAME=ORIGIN (repeatable).
    #[arg(long = "upstream", value_name = "NAME=ORIGIN")]
    pub upstream: Vec<String>,
    #[arg(long)]
    pub description: Option<String>,
    /// Overwrite an existing fixture.
    #[arg(long)]
    pub force: bool,
}

pub fn record(args: &RecordArgs) -> u8 {
    match run(args) {
        Ok(code) => code,
        Err(message) => {
            eprintln!("error: {message}");
            EXIT_USAGE
        }
    }
}

fn run(args: &RecordArgs) -> Result<u8, String> {
    let mut options = Options::new(&args.dir);
    options.models_dir = args.models.clone();
    let project = Project::load(&options, false)?;
    let method = match args.method.as_str() {
        "list" => CallMethod::List,
        "get" => CallMethod::Get,
        "create" => CallMethod::Create,
        "update" => CallMethod::Update,
        _ => CallMethod::Delete,
    };
    let pages = match args.pages.as_deref() {
        None => None,
        Some("all") => Some(Pages::All),
        Some(n) => {
            Some(Pages::Count(n.parse().ok().filter(|n| *n >= 1).ok_or_else(|| format!("--pages must be `all` or a number, not `{n}`"))?))
        }
    };
    let mut query = serde_json::Map::new();
    for pair in &args.query {
        let (name, value) = pair.split_once('=').ok_or_else(|| format!("--query `{pair}` is not NAME=VALUE"))?;
        query.insert(name.to_string(), value.into());
    }
    let body = match &args.body {
        Some(text) => Some(serde_json::from_str(text).map_err(|e| format!("--body is not JSON: {e}"))?),
        None => None,
    };
    let call = Call {
        model: args.model.clone(),
        resource: args.resource.clone(),
        method,
        id: args.id.clone(),
        query,
        page_size: args.page_size,
        pages,
        start: None,
        body,
    };
    let mut upstream = HashMap::new();
    for pair in &args.upstream {
        let (name, url) = record::parse_upstream(pair)?;
        upstream.insert(name, url);
    }
    let account = record::read_account(&args.account)?;
    let path = args.dir.join(&args.integration).join("fixtures").join(format!("{}.yaml", args.case));
    if path.exists() && !args.force {
        return Err(format!("{} exists; pass --force to record it again", path.display()));
    }
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().map_err(|e| e.to_string())?;
    let options = RecordOptions { integration: args.integration.clone(), call, account, upstream, description: args.description.clone() };
    let recording = runtime.block_on(record::record(project.registry.clone(), &options))?;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    }
    std::fs::write(&path, &recording.yaml).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    eprintln!("wrote {} ({} exchanges, secrets replaced by fake values)", path.display(), recording.fixture.exchanges.len());
    // Replay what was recorded: it must pass, and it writes the snapshot.
    let case = Case { integration: args.integration.clone(), name: args.case.clone(), path };
    let report = runtime.block_on(suite::run_case(&project, &case, Mode::Update, false));
    for note in &report.notes {
        eprintln!("{note}");
    }
    if report.passed {
        eprintln!("the recording replays: ok {}", report.id);
        Ok(EXIT_OK)
    } else {
        eprintln!("the recording does not replay cleanly:\n{}", report.details);
        Ok(EXIT_INVALID)
    }
}
