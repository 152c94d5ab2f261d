//! Pagination blocks that can actually end, and that fit the methods they apply to.
//! Also resolves the pagination in force for each method (its own, or the default for
//! methods named `list`).

use super::Ctx;
use crate::codes::Code;
use crate::diagnostic::Diagnostic;
use switchyard_registry::{CursorFrom, HttpMethod, Integration, Pagination, ParamIn};

pub fn check(ctx: &mut Ctx, integration: &mut Integration) {
    if let Some(default) = &integration.pagination {
        check_block(ctx, default, &["pagination"]);
    }
    let default = integration.pagination.clone().filter(|p| !matches!(p, Pagination::None {}));
    for (resource_name, resource) in integration.resources.iter_mut() {
        for (method_name, method) in resource.methods.iter_mut() {
            let own: Vec<&str> = vec!["resources", resource_name, method_name, "pagination"];
            let (resolved, at): (Option<Pagination>, Vec<&str>) = match &method.pagination {
                Some(p) => {
                    check_block(ctx, p, &own);
                    (Some(p.clone()).filter(|p| !matches!(p, Pagination::None {})), own.clone())
                }
                None if method_name == "list" => (default.clone(), vec!["pagination"]),
                None => (None, vec![]),
            };
            if let (Some(p), HttpMethod::Get) = (&resolved, method.method) {
                if sends_in_body(p) {
                    let span = ctx.span(&at);
                    ctx.push(
                        Diagnostic::new(
                            Code::InconsistentPagination,
                            format!("`{resource_name}.{method_name}` is a GET, but its pagination sends parameters in the body"),
                        )
                        .at(ctx.file, span)
                        .label("body parameters")
                        .help("a GET has no body: use `in: query`, or give this method its own pagination"),
                    );
                }
            }
            method.pagination = resolved;
        }
    }
}

fn sends_in_body(p: &Pagination) -> bool {
    let request_in_body = match p {
        Pagination::Cursor { request, .. } | Pagination::Page { request, .. } | Pagination::Offset { request, .. } => {
            request.placement == ParamIn::Body
        }
        _ => false,
    };
    let size_in_body = p.common().and_then(|c| c.page_size.as_ref()).is_some_and(|s| s.placement == ParamIn::Body);
    request_in_body || size_in_body
}

fn check_block(ctx: &mut Ctx, p: &Pagination, path: &[&str]) {
    let mut problems: Vec<(Vec<&str>, String, String)> = Vec::new();
    let Some(common) = p.common() else { return };
    if let Pagination::Cursor { cursor, .. } = p {
        match cursor.from {
            CursorFrom::Header if cursor.path.is_some() => problems.push((
                vec!["cursor", "path"],
                "`path` is not used when the cursor comes from a header".into(),
                "remove `path`".into(),
            )),
            CursorFrom::Body | CursorFrom::LastRecord if cursor.header.is_some() => problems.push((
                vec!["cursor", "header"],
                "`header` is only used when the cursor comes from a header".into(),
                "remove `header`".into(),
            )),
            _ => {}
        }
        if cursor.from == CursorFrom::LastRecord
            && common.stop.has_more.is_none()
            && common.stop.is_last.is_none()
            && !common.stop.short_page
            && !common.stop.empty_page
        {
            problems.push((
                vec!["stop"],
                "a cursor taken from the last record never goes missing, so this list never ends".into(),
                "add a stop condition such as `has_more: has_more` or `short_page: true`".into(),
            ));
        }
    }
    if let Some(size) = &common.page_size {
        if let Some(default) = size.default {
            if default > size.max {
                problems.push((
                    vec!["page_size", "default"],
                    format!("the default page size {default} is above the maximum {}", size.max),
                    "lower `default` to at most `max`".into(),
                ));
            }
        }
    }
    if common.stop.short_page && common.page_size.is_none() {
        problems.push((
            vec!["stop", "short_page"],
            "`short_page` needs `page_size`: a page is short only against the size asked for".into(),
            "add `page_size:` with its `param` and `max`".into(),
        ));
    }
    match p {
        Pagination::Page { .. } | Pagination::Offset { .. } => {
            if common.stop.missing_cursor {
                problems.push((
                    vec!["stop", "missing_cursor"],
                    format!("`missing_cursor` has no meaning for `{}` pagination, which has no cursor", p.type_name()),
                    "use `empty_page`, `short_page`, `has_more` or `is_last`".into(),
                ));
            }
            let stop = &common.stop;
            if stop.has_more.is_none() && stop.is_last.is_none() && stop.total.is_none() && !stop.empty_page && !stop.short_page {
                problems.push((
                    vec![],
                    format!("`{}` pagination without a stop condition never ends", p.type_name()),
                    "add `stop:` with `empty_page`, `short_page`, `has_more`, `is_last` or `total`".into(),
                ));
            }
            if let Pagination::Page { .. } = p {
                if common.stop.total.is_some() && common.page_size.is_none() {
                    problems.push((
                        vec!["stop", "total"],
                        "`total` with `page` pagination needs `page_size`: the records fetched are pages times the size".into(),
                        "add `page_size:` with its `param` and `max`".into(),
                    ));
                }
            }
        }
        _ => {
            if common.stop.total.is_some() {
                problems.push((
                    vec!["stop", "total"],
                    format!("`total` only works with `page` or `offset` pagination, not `{}`", p.type_name()),
                    "remove `total`: this kind ends when there is no next position".into(),
                ));
            }
        }
    }
    if let (Pagination::Page { request, .. } | Pagination::Offset { request, .. } | Pagination::Cursor { request, .. }, Some(size)) =
        (p, &common.page_size)
    {
        if size.param.as_ref() == Some(&request.param) {
            problems.push((
                vec!["page_size", "param"],
                format!("the page size and the position are both sent as `{}`", request.param),
                "they must be different parameters".into(),
            ));
        }
    }
    for (suffix, message, help) in problems {
        let mut full = path.to_vec();
        full.extend(suffix);
        let span = ctx.span(&full);
        ctx.push(Diagnostic::new(Code::InconsistentPagination, message).at(ctx.file, span).help(help));
    }
}
