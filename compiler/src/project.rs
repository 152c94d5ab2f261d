//! A project: the integrations directory and the unified models, checked and compiled
//! as a whole. This is the entry point for the CLI and for build scripts.

use crate::codes::Code;
use crate::diagnostic::{Diagnostic, Diagnostics};
use crate::schema::Schema;
use crate::semantic::{self, Ctx, Functions, Models};
use crate::source::{SourceFile, Span};
use crate::yaml::{self, Limits, Node, NodeKind};
use indexmap::IndexMap;
use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};
use switchyard_registry::{Integration, Registry, UnifiedModel};

#[derive(Debug, Clone)]
pub struct Options {
    pub integrations_dir: PathBuf,
    /// Where the unified models' JSON Schemas are; default: `<integrations>/../schemas/models`.
    pub models_dir: Option<PathBuf>,
    pub limits: Limits,
}

impl Options {
    pub fn new(integrations_dir: impl Into<PathBuf>) -> Options {
        Options { integrations_dir: integrations_dir.into(), models_dir: None, limits: Limits::default() }
    }

    pub fn models_dir(&self) -> PathBuf {
        self.models_dir.clone().unwrap_or_else(|| self.integrations_dir.join("..").join("schemas").join("models"))
    }
}

/// An error that prevents checking at all (exit code 2): the directory is missing.
#[derive(Debug)]
pub struct UsageError(pub String);

impl std::fmt::Display for UsageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// What a check produced: the files read, every diagnostic, and the registry when there
/// was no error.
pub struct Outcome {
    pub files: Vec<SourceFile>,
    pub diagnostics: Diagnostics,
    pub registry: Option<Registry>,
}

impl Outcome {
    pub fn has_errors(&self) -> bool {
        self.diagnostics.error_count() > 0
    }
}

/// Checks and compiles every definition under the integrations directory.
pub fn check(options: &Options) -> Result<Outcome, UsageError> {
    let root = &options.integrations_dir;
    let entries =
        fs::read_dir(root).map_err(|e| UsageError(format!("cannot read the integrations directory `{}`: {e}", root.display())))?;
    let mut folders: Vec<PathBuf> = entries.filter_map(Result::ok).map(|e| e.path()).filter(|p| p.is_dir()).collect();
    folders.sort();

    let mut compiler = Compiler {
        options,
        files: Vec::new(),
        diagnostics: Diagnostics::default(),
        integration_schema: Schema::integration(),
        unified_schema: Schema::unified(),
    };
    let models = compiler.load_models(&options.models_dir());
    let mut integrations = Vec::new();
    for folder in &folders {
        if let Some(integration) = compiler.integration(folder, &models) {
            integrations.push(integration);
        }
    }
    compiler.diagnostics.items.sort_by_key(|d| (d.file, d.span.start, d.code));
    let registry = (compiler.diagnostics.error_count() == 0).then(|| Registry::new(integrations, models));
    Ok(Outcome { files: compiler.files, diagnostics: compiler.diagnostics, registry })
}

struct Compiler<'o> {
    options: &'o Options,
    files: Vec<SourceFile>,
    diagnostics: Diagnostics,
    integration_schema: Schema,
    unified_schema: Schema,
}

impl Compiler<'_> {
    /// Name shown in diagnostics and stored in origins: relative to the integrations dir's parent.
    fn display_name(&self, path: &Path) -> String {
        let base = self.options.integrations_dir.parent().unwrap_or(Path::new(""));
        let relative = path.strip_prefix(base).unwrap_or(path);
        relative.components().map(|c| c.as_os_str().to_string_lossy()).collect::<Vec<_>>().join("/")
    }

    fn read(&mut self, path: &Path) -> Option<usize> {
        let name = self.display_name(path);
        let index = self.files.len();
        match fs::read(path) {
            Ok(bytes) if bytes.len() > self.options.limits.max_bytes => {
                self.files.push(SourceFile::new(name, path, String::new()));
                self.diagnostics.push(
                    Diagnostic::new(
                        Code::FileTooLarge,
                        format!("file is {} bytes, over the limit of {} bytes", bytes.len(), self.options.limits.max_bytes),
                    )
                    .at(index, Span::point(0))
                    .help("definitions are small: check that this is the file you meant"),
                );
                None
            }
            Ok(bytes) => match String::from_utf8(bytes) {
                Ok(text) => {
                    self.files.push(SourceFile::new(name, path, text));
                    Some(index)
                }
                Err(e) => {
                    // Keep a lossy copy so the diagnostic can show the line with the bad byte.
                    let valid = e.utf8_error().valid_up_to();
                    let at = String::from_utf8_lossy(&e.as_bytes()[..valid]).chars().count();
                    let text = String::from_utf8_lossy(e.as_bytes()).into_owned();
                    self.files.push(SourceFile::new(name, path, text));
                    let d = Diagnostic::new(Code::Unreadable, format!("the file is not UTF-8 text (invalid byte at offset {valid})"))
                        .at(index, Span::new(at, at + 1))
                        .label("not UTF-8")
                        .help("save the file as UTF-8");
                    self.diagnostics.push(d);
                    None
                }
            },
            Err(e) => {
                self.files.push(SourceFile::new(name, path, String::new()));
                self.diagnostics.push(Diagnostic::new(Code::Unreadable, format!("cannot read the file: {e}")).at(index, Span::point(0)));
                None
            }
        }
    }

    /// YAML, then the schema: a document that fails either goes no further.
    fn parse(&mut self, path: &Path, schema_is_unified: bool) -> Option<(usize, Node, serde_json::Value)> {
        let file = self.read(path)?;
        let (node, diagnostics) = yaml::load(file, &self.files[file], &self.options.limits);
        let had_errors = diagnostics.iter().any(Diagnostic::is_error);
        self.diagnostics.items.extend(diagnostics);
        let node = node.filter(|_| !had_errors)?;
        let json = node.to_json();
        let schema = if schema_is_unified { &self.unified_schema } else { &self.integration_schema };
        let schema_errors = schema.check(file, &node, &json);
        let failed = !schema_errors.is_empty();
        self.diagnostics.items.extend(schema_errors);
        (!failed).then_some((file, node, json))
    }

    /// Reads a document that passed the schema into its typed form. What can still fail
    /// here is a number out of the range of its type (a 10^23 page size).
    fn typed<T: serde::de::DeserializeOwned>(&mut self, file: usize, node: &Node, json: serde_json::Value) -> Option<T> {
        match serde_path_to_error::deserialize(json) {
            Ok(value) => Some(value),
            Err(e) => {
                let path: Vec<String> = e.path().iter().map(|s| s.to_string()).filter(|s| s != "?").collect();
                let at = node.lookup(&path).map(|n| overflowing_number(n).unwrap_or(n.span)).unwrap_or(node.span);
                let inner = e.into_inner().to_string();
                let d = if inner.contains("invalid type: floating point") || inner.contains("invalid value") {
                    Diagnostic::new(Code::InvalidValue, format!("`{}` is out of range: {inner}", path.join(".")))
                        .at(file, at)
                        .label("out of range")
                        .help("use a smaller whole number")
                } else {
                    Diagnostic::new(
                        Code::Internal,
                        format!("the definition passed the schema but could not be read at `{}`: {inner}", path.join(".")),
                    )
                    .at(file, at)
                    .help("this is a bug in Switchyard (its schema and its types disagree); please report it")
                };
                self.diagnostics.push(d);
                None
            }
        }
    }

    fn integration(&mut self, folder: &Path, models: &Models) -> Option<Integration> {
        let folder_name = folder.file_name()?.to_string_lossy().to_string();
        let definition = folder.join("integration.yaml");
        self.report_stray_files(folder);
        if !definition.is_file() {
            let index = self.files.len();
            self.files.push(SourceFile::new(self.display_name(folder), folder, String::new()));
            let hint = if folder.join("integration.yml").is_file() {
                "rename `integration.yml` to `integration.yaml`"
            } else {
                "add integration.yaml, or move this folder out of the integrations directory"
            };
            self.diagnostics.push(
                Diagnostic::new(Code::MissingIntegrationFile, format!("the folder `{folder_name}` has no integration.yaml"))
                    .at(index, Span::point(0))
                    .help(hint),
            );
            return None;
        }
        let unified_paths = unified_files(&folder.join("unified"));
        let mut integration: Option<Integration> = None;
        let mut integration_ok = false;
        let mut method_params = IndexMap::new();
        // The integration's shared functions, and the names of those some expression calls.
        let mut functions = Functions::default();
        let mut used: BTreeSet<String> = BTreeSet::new();
        if let Some((file, node, mut json)) = self.parse(&definition, false) {
            let function_sources = semantic::take_functions(&mut json);
            if let Some(mut typed) = self.typed::<Integration>(file, &node, json) {
                let source = self.files[file].clone();
                let mut ctx = Ctx::new(file, source.name.clone(), &source, &node);
                functions = semantic::check_functions(&mut ctx, function_sources, None);
                semantic::check_integration(&mut ctx, &mut typed, &folder_name);
                if unified_paths.is_empty() {
                    // Nothing maps it: the unified API cannot serve it (only the raw proxy can).
                    let span = ctx.key_span(&["name"]);
                    ctx.push(
                        Diagnostic::new(Code::NoUnifiedMapping, format!("no unified model maps `{}`", typed.name))
                            .at(file, span)
                            .note(format!("no file under {folder_name}/unified/"))
                            .help("add `unified/<model>.yaml` mapping a model (`crm`, `ticketing`, …) onto its resources"),
                    );
                }
                integration_ok = !ctx.diagnostics.iter().any(Diagnostic::is_error);
                let scope = functions.scope(None);
                if let Err(e) = semantic::bind_functions(&mut typed, &scope, integration_ok, &mut used) {
                    ctx.push(internal_error(file, &e));
                    integration_ok = false;
                }
                method_params = ctx.declared.method_params.clone();
                self.diagnostics.items.extend(ctx.diagnostics);
                integration = Some(typed);
            }
        }

        let mut unified: IndexMap<String, UnifiedModel> = IndexMap::new();
        // Model name -> the file that mapped it first.
        let mut mapped_in: IndexMap<String, String> = IndexMap::new();
        for path in unified_paths {
            let stem = path.file_stem().map(|s| s.to_string_lossy().to_string()).unwrap_or_default();
            let Some((file, node, mut json)) = self.parse(&path, true) else {
                continue;
            };
            // A resource's default `response` is not a method: set aside, filled in by the check.
            let defaults = semantic::take_resource_defaults(&mut json);
            let function_sources = semantic::take_functions(&mut json);
            let Some(mut model): Option<UnifiedModel> = self.typed(file, &node, json) else {
                continue;
            };
            let source = self.files[file].clone();
            let mut ctx = Ctx::new(file, source.name.clone(), &source, &node);
            ctx.declared.method_params = method_params.clone();
            let own_functions = semantic::check_functions(&mut ctx, function_sources, Some(&functions));
            semantic::check_unified(&mut ctx, &mut model, integration.as_ref(), &stem, models, &defaults);
            let ok = !ctx.diagnostics.iter().any(Diagnostic::is_error);
            let scope = own_functions.scope(Some(&functions));
            let mut used_here = BTreeSet::new();
            if let Err(e) = semantic::bind_functions(&mut model, &scope, ok, &mut used_here) {
                ctx.push(internal_error(file, &e));
            }
            own_functions.warn_unused(&used_here, &mut ctx.diagnostics);
            used.extend(used_here);
            if let Some(first) = mapped_in.get(&model.model) {
                let span = ctx.span(&["model"]);
                let d = Diagnostic::new(Code::Duplicate, format!("a second mapping file for the model `{}`", model.model))
                    .at(file, span)
                    .label("model already mapped")
                    .note(format!("first mapped in {first}"))
                    .help("keep one file per model: merge the two");
                ctx.push(d);
            }
            self.diagnostics.items.extend(ctx.diagnostics);
            mapped_in.entry(model.model.clone()).or_insert_with(|| source.name.clone());
            unified.entry(model.model.clone()).or_insert(model);
        }
        functions.warn_unused(&used, &mut self.diagnostics.items);
        let mut integration = integration.filter(|_| integration_ok)?;
        integration.unified = unified;
        Some(integration)
    }

    fn report_stray_files(&mut self, folder: &Path) {
        let Ok(entries) = fs::read_dir(folder) else {
            return;
        };
        let mut strays: Vec<PathBuf> = entries
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| {
                p.is_file()
                    && matches!(p.extension().and_then(|e| e.to_str()), Some("yml" | "yaml" | "json"))
                    && p.file_name().is_some_and(|n| n != "integration.yaml")
            })
            .collect();
        strays.sort();
        for path in strays {
            let index = self.files.len();
            self.files.push(SourceFile::new(self.display_name(&path), &path, String::new()));
            self.diagnostics.push(
                Diagnostic::new(Code::UnexpectedFile, "this file is not read by the compiler")
                    .at(index, Span::point(0))
                    .help("definitions are `integration.yaml` and `unified/<model>.yaml`; rename or move this file"),
            );
        }
    }

    /// Reads `<models>/<model>/<resource>.json`.
    fn load_models(&mut self, dir: &Path) -> Models {
        let mut models = Models::new();
        let Ok(entries) = fs::read_dir(dir) else {
            return models;
        };
        let mut model_dirs: Vec<PathBuf> = entries.filter_map(Result::ok).map(|e| e.path()).filter(|p| p.is_dir()).collect();
        model_dirs.sort();
        for model_dir in model_dirs {
            let model = model_dir.file_name().map(|s| s.to_string_lossy().to_string()).unwrap_or_default();
            let Ok(files) = fs::read_dir(&model_dir) else {
                continue;
            };
            let mut paths: Vec<PathBuf> =
                files.filter_map(Result::ok).map(|e| e.path()).filter(|p| p.extension().is_some_and(|e| e == "json")).collect();
            paths.sort();
            let mut resources = IndexMap::new();
            for path in paths {
                let resource = path.file_stem().map(|s| s.to_string_lossy().to_string()).unwrap_or_default();
                let Some(file) = self.read(&path) else {
                    continue;
                };
                let text = &self.files[file].text;
                match serde_json::from_str::<serde_json::Value>(text) {
                    Ok(schema) => {
                        if let Err(e) = jsonschema::draft202012::meta::validate(&schema) {
                            self.diagnostics.push(
                                Diagnostic::new(Code::InvalidModelSchema, format!("not a valid JSON Schema: {e}")).at(file, Span::point(0)),
                            );
                            continue;
                        }
                        resources.insert(resource, schema);
                    }
                    Err(e) => {
                        let at = self.files[file].char_index(e.line(), e.column());
                        self.diagnostics
                            .push(Diagnostic::new(Code::InvalidModelSchema, format!("not valid JSON: {e}")).at(file, Span::point(at)));
                    }
                }
            }
            models.insert(model, resources);
        }
        models
    }
}

/// E0399 for a definition that passed every check but could not be compiled.
fn internal_error(file: usize, message: &str) -> Diagnostic {
    Diagnostic::new(Code::Internal, format!("the definition could not be compiled: {message}"))
        .at(file, Span::point(0))
        .help("this is a bug in Switchyard; please report it with the file")
}

/// A whole number too large for any integer type (YAML read it as a float): where a
/// serde range error is, when serde's path stops above it (flattened fields).
fn overflowing_number(node: &Node) -> Option<Span> {
    match &node.kind {
        NodeKind::Float(f) if f.fract() == 0.0 && f.abs() >= 9.2e18 => Some(node.span),
        NodeKind::Seq(items) => items.iter().find_map(overflowing_number),
        NodeKind::Map(entries) => entries.iter().find_map(|e| overflowing_number(&e.value)),
        _ => None,
    }
}

fn unified_files(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut paths: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.is_file() && p.extension().is_some_and(|e| e == "yaml" || e == "yml"))
        .collect();
    paths.sort();
    paths
}
