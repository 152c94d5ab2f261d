//! The registry of diagnostic codes. One row per code; `docs/diagnostics.md` is generated
//! from this table (a test keeps them in step).
//!
//! Never reuse or renumber a released code: users grep for them and CI configurations
//! match on them. Retire a code by leaving its row and saying so in its explanation.

macro_rules! codes {
    ($( $variant:ident = $code:literal, $severity:ident, $title:literal, $explain:literal; )*) => {
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Code { $( $variant, )* }

        impl Code {
            pub const ALL: &'static [Code] = &[ $( Code::$variant, )* ];

            /// The stable identifier, e.g. `E0201`.
            pub fn id(self) -> &'static str {
                match self { $( Code::$variant => $code, )* }
            }

            pub fn severity(self) -> Severity {
                match self { $( Code::$variant => Severity::$severity, )* }
            }

            /// One line saying what kind of problem this is.
            pub fn title(self) -> &'static str {
                match self { $( Code::$variant => $title, )* }
            }

            /// What causes it and how to fix it.
            pub fn explanation(self) -> &'static str {
                match self { $( Code::$variant => $explain, )* }
            }
        }
    };
}

codes! {
    // 00xx: the project as a whole
    MissingIntegrationFile = "E0001", Error, "integration folder without integration.yaml",
        "Every folder under the integrations directory is one provider and must hold `integration.yaml`. Add it, or move the folder out.";
    UnexpectedFile = "W0002", Warning, "file the compiler does not read",
        "Only `integration.yaml` and `unified/<model>.yaml` are definitions (plus `fixtures/`, `snapshots/` and documentation). A misnamed file such as `integration.yml` is silently ignored by other tools; here it is reported.";

    // 01xx: YAML
    YamlSyntax = "E0101", Error, "YAML syntax error",
        "The file is not valid YAML. The caret marks where the parser gave up; the problem is often just before it (an unclosed quote or bracket, a missing `:` or a bad indentation).";
    TabIndentation = "E0102", Error, "tab used for indentation",
        "YAML forbids tabs in indentation. Replace them with spaces (two per level is the convention here).";
    DuplicateKey = "E0103", Error, "duplicate key",
        "A mapping holds the same key twice. YAML parsers disagree on which one wins, so it is an error: remove or rename one of them.";
    AliasLimit = "E0104", Error, "alias expansion too large",
        "Anchors and aliases (`&a` / `*a`) expand to more nodes than a definition can reasonably hold (a \"billion laughs\" alias bomb). Write the values out, or reuse less.";
    TooDeep = "E0105", Error, "nesting too deep",
        "The document nests deeper than the limit (64 levels). No definition needs this; the file is probably generated wrongly or hostile.";
    EmptyFile = "E0106", Error, "empty file",
        "The file holds no YAML document. Write the definition, or delete the file.";
    FileTooLarge = "E0107", Error, "file too large",
        "The file is larger than the limit (4 MiB). Definitions are small; a file this large is a mistake or hostile.";
    UnsupportedYaml = "E0108", Error, "unsupported YAML construct",
        "Definitions use plain YAML: mappings with string keys, sequences and scalars. Complex keys, custom tags and several documents in one file are not supported.";
    Unreadable = "E0109", Error, "file cannot be read",
        "The file could not be read, or is not UTF-8 text.";

    // 02xx: the JSON Schema of the DSL
    UnknownKey = "E0201", Error, "unknown key",
        "The key is not part of the DSL at this place. It is usually a typo (see the suggestion) or a key that belongs one level up or down. The schema in `schemas/` lists the keys allowed here.";
    WrongType = "E0202", Error, "wrong type",
        "The value has the wrong type for this key (for example a list where a string is expected). Quote numbers meant as strings.";
    BadEnum = "E0203", Error, "value not allowed",
        "The value must be one of a fixed set, listed in the help line.";
    MissingKey = "E0204", Error, "missing required key",
        "A key that this place requires is absent.";
    InvalidValue = "E0205", Error, "invalid value",
        "The value breaks a rule of the schema (a name pattern, a minimum, a format, an empty list where one item is needed, …).";

    // 03xx: semantics
    MalformedPlaceholder = "E0301", Error, "malformed placeholder",
        "A `{{…}}` placeholder must be `{{scope.field}}` (for example `{{connection.shop}}`): a scope, a dot, a field name of letters, digits and `_`, closed by `}}`. Literal `{{` and `}}` cannot appear in templates.";
    UnknownScope = "E0302", Error, "placeholder scope not allowed here",
        "Each place allows some scopes only: base URL, headers and query allow `connection` and `credentials`; method paths add `params`; OAuth URLs allow `connection`; webhook secrets `install` and `connection`; signed content `request`.";
    UnknownField = "E0303", Error, "placeholder field not declared",
        "The placeholder names a field the definition does not declare: declare it under `connection.fields`, list it in the auth's `credentials`, or fix the spelling.";
    ParamNotSupplied = "E0304", Error, "path placeholder not supplied",
        "The provider method's path or query uses `{{params.x}}`, but the caller does not supply `x`: a unified mapping must give it under `params` (only `id` is supplied by get, update and delete), and `verify` under its own `params`.";
    JsonataSyntax = "E0305", Error, "JSONata syntax error",
        "A JSONata expression does not parse. The caret marks where the parser stopped; the JSONata error code (Sxxxx) is given in the note.";
    UnknownResource = "E0306", Error, "unknown resource",
        "A mapping or `verify` names a provider resource that `integration.yaml` does not define.";
    UnknownMethod = "E0307", Error, "unknown method",
        "A mapping or `verify` names a method that the provider resource does not define.";
    Duplicate = "E0308", Error, "duplicate definition",
        "Two definitions claim the same name: two integrations with one `name`, two files for one unified model, or resource or field names that differ only in case, `-` or `_`.";
    InconsistentPagination = "E0309", Error, "inconsistent pagination",
        "The pagination block contradicts itself: a cursor read from a header without `header`, from the body without `path`, a `short_page` stop without a page size, a default page size above the maximum, …";
    InconsistentRateLimit = "E0310", Error, "inconsistent rate limit",
        "The rate-limit block contradicts itself: a rule that can never match (a status that is not an error), `remaining` in `used_of_limit` format without a matching limit, a `delta_millis` unit for Retry-After, …";
    InvalidUrl = "E0311", Error, "invalid URL",
        "A URL (base URL, OAuth URL, docs URL) does not parse, or uses a scheme other than https (http is allowed for localhost only). Placeholders may stand in the host and path.";
    NameMismatch = "E0312", Error, "name does not match file",
        "`name` in integration.yaml must equal its folder's name, and `model` in unified/<model>.yaml its file's stem: tools find definitions by path.";
    UnknownModel = "E0313", Error, "unknown unified model",
        "A unified mapping targets a model or resource with no JSON Schema at `schemas/models/<model>/<resource>.json`. Add the schema (it is the contract clients rely on) or fix the name.";
    InvalidConnectionField = "E0314", Error, "invalid connection field",
        "A connection field contradicts itself: a pattern that is not a valid regular expression, a default that does not match the pattern or is not one of `values`, `values` on a non-enum field, a `from_callback` without an OAuth authorization-code redirect to read it from, naming a parameter of the OAuth protocol (`code`, `state`, `error`, …) or on a field `auth.token_response.store` also fills.";
    InconsistentAuth = "E0315", Error, "inconsistent auth",
        "The auth block contradicts itself: an authorization-code grant without `authorize_url`, a client-credentials grant with one, `store` into an undeclared connection field, a credential declared twice, …";
    InvalidPath = "E0316", Error, "invalid method path",
        "A method path must start with `/` and hold no query string or fragment (use `query`), and no `..` segments.";
    InconsistentWebhook = "E0317", Error, "inconsistent webhook verification",
        "The webhook `verify` block contradicts itself: a `key_value` signature without `key`, a timestamp with both or neither of `header` and `key`, a timestamp `key` on a plain signature, …";
    InvalidModelSchema = "E0318", Error, "invalid unified model schema",
        "A file under `schemas/models/` is not valid JSON or not a valid JSON Schema (draft 2020-12).";
    InconsistentErrorRule = "E0319", Error, "inconsistent error rule",
        "An `errors.when` rule (of the integration or of a method), or an `auth.token_response.error_when` rule, cannot work as written: it has no condition at all (no `status`, `header` or `body`, so every response, every success included, would be an error), it lists a 2xx status without a `header` or `body` condition (every success with that status would be an error), or it lists a 1xx status (never a final answer, so the rule never matches).";
    InvalidFunction = "E0320", Error, "shared function is not a function",
        "Each entry under `functions` (in integration.yaml or unified/<model>.yaml) must be one JSONata lambda, `function($x) { … }`: its value parsed, but it is something else (a path, an object, a call). Write the lambda itself; to share a constant, write a function that returns it (`function() { [\"a\", \"b\"] }`).";
    FunctionNameTaken = "E0321", Error, "shared function name already taken",
        "A shared function would hide another name every expression can already use: a function of JSONata's own library (`$string`, `$map`, …), a function of Switchyard's library (`$removeEmpty`, `$parseDate`, …; docs/functions.md), a binding (`$params`, `$query`, `$connection`, `$headers`, `$page`), or, in unified/<model>.yaml, a function integration.yaml already shares. Rename it.";
    Internal = "E0399", Error, "internal compiler error",
        "The definition passed every check but could not be compiled. This is a bug in Switchyard; please report it with the file.";

    // 04xx: warnings
    UnusedConnectionField = "W0401", Warning, "connection field never used",
        "A declared connection field is not used by any template or token-response `store`. Remove it, or use it.";
    UnmappedModelResource = "W0402", Warning, "method without response mapping",
        "A unified list, get, create or update mapping has no `response`: callers would receive nothing useful.";
    VerifyMissing = "W0403", Warning, "no verify call",
        "Without `verify`, an imported token cannot be tested before it is stored.";
    NoUnifiedMapping = "W0404", Warning, "integration without unified mappings",
        "No `unified/<model>.yaml` maps any unified model onto this integration, so the unified API cannot serve it: only the raw proxy can reach it. Add a mapping file for the model it belongs to (`crm`, `ticketing`, `hris`, `ats`, or a migration model), or remove the integration.";
    UnusedDefaultResponse = "W0405", Warning, "default response never used",
        "A unified resource declares a default `response`, but each of its list, get, create and update mappings has a `response` of its own, so the default is never used. Remove it, or remove the copies it replaces.";
    UnusedFunction = "W0406", Warning, "shared function never called",
        "A function under `functions` is called by no expression of its scope (every expression of the integration for integration.yaml, the file's own for unified/<model>.yaml), not even through another function. Remove it, or call it as `$name(…)`.";

    // 05xx: fixtures (`switchyard test`)
    FixtureSecret = "E0501", Error, "live-looking secret in a fixture",
        "Fixtures are committed, so every credential in them must be fake. The value has the shape of a live token (`pat-na1-…`, `sk_live_…`, `ghp_…`, `xoxb-…`, a JWT) or is a long random-looking string where a secret goes (a credential, a client secret, an `Authorization` or `Cookie` header, a field named like a token). Replace it with a fake value such as `fake-access-token` (and the same fake in the account, so the replay still matches); `switchyard record` does this for you. If the value is really fake, make it say so (`fake`, `test`, `example`).";
    InvalidFixture = "E0502", Error, "inconsistent fixture",
        "The fixture passed its schema but cannot run as written: a get, update or delete without `id`, `pages`, `page_size` or `start` on a method that is not a list, a body on a list, a request with two bodies, a response with both `body` and `body_text`, or a folder that is not `integrations/<provider>/fixtures/`.";
}

/// The documentation page for every code, as committed in `docs/diagnostics.md`.
pub fn render_docs() -> String {
    let mut out = String::from(
        "# Diagnostic codes\n\nGenerated from `compiler/src/codes.rs` (a test keeps this file in step). Codes are stable: a released code is never reused.\n\n| code | severity | title |\n|---|---|---|\n",
    );
    for code in Code::ALL {
        out.push_str(&format!(
            "| [{id}](#{lower}) | {sev} | {title} |\n",
            id = code.id(),
            lower = code.id().to_lowercase(),
            sev = code.severity().as_str(),
            title = code.title()
        ));
    }
    for code in Code::ALL {
        out.push_str(&format!("\n## {}\n\n**{}** ({})\n\n{}\n", code.id(), code.title(), code.severity().as_str(), code.explanation()));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn ids_are_unique_and_well_formed() {
        let mut seen = HashSet::new();
        for code in Code::ALL {
            assert!(seen.insert(code.id()), "{} used twice", code.id());
            let prefix = if code.severity() == Severity::Error { 'E' } else { 'W' };
            assert!(code.id().starts_with(prefix) && code.id().len() == 5, "{}", code.id());
        }
    }

    #[test]
    fn docs_page_is_in_step() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/diagnostics.md");
        let generated = render_docs();
        if std::env::var_os("UPDATE_DOCS").is_some() {
            std::fs::write(path, &generated).unwrap();
        }
        let committed = std::fs::read_to_string(path).unwrap_or_default();
        assert!(committed == generated, "docs/diagnostics.md is stale: run `UPDATE_DOCS=1 cargo test -p switchyard-compiler codes`");
    }
}

/// How bad a diagnostic is; each code has one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    Error,
    Warning,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
        }
    }
}
