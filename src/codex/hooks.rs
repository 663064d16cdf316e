//! telemhq's hooks in Codex's `config.toml`, and the trust entries that let Codex run
//! them. Pure: a document's text in, the new text out; every other byte of the user's
//! TOML (comments, order, formatting) is kept by `toml_edit`.
//!
//! Codex runs a hook that is not managed only once it is trusted: `config.toml` holds
//! `[hooks.state."<file>:<event>:<group>:<handler>"] trusted_hash = "sha256:…"`, the
//! SHA-256 of the hook's canonical JSON as Codex computes it. install writes exactly
//! those entries for telemhq's own hooks; uninstall removes them.

use sha2::{Digest, Sha256};
use toml_edit::{ArrayOfTables, DocumentMut, Item, Table, value};

/// The command every scope installs. It runs the link in telemhq's private folder, so it
/// needs no PATH, and prints nothing on stdout (Codex accepts nothing or JSON there).
pub const HOOK_COMMAND: &str =
    r#""${CLAUDE_CONFIG_DIR:-$HOME/.claude}/hooks/telemhq" emit --agent codex || true"#;

/// Seconds Codex gives the hook.
pub const TIMEOUT: i64 = 10;

/// Codex's events telemhq uses: the turn's end, and with tool activity each tool call.
pub const TURN_EVENT: &str = "Stop";
pub const TOOL_EVENT: &str = "PostToolUse";
/// Tool activity covers every tool (Codex matches `tool_name` with a regex).
const TOOL_MATCHER: &str = ".*";

/// What install created in a config, so that uninstall removes only that.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Created {
    #[serde(default)]
    pub hooks: bool,
    #[serde(default)]
    pub state: bool,
    #[serde(default)]
    pub events: Vec<String>,
}

/// A config.toml that is not TOML, or not of the shape Codex reads.
#[derive(Debug, Clone, PartialEq)]
pub struct ConfigError(pub String);

fn parse(text: Option<&str>) -> Result<DocumentMut, ConfigError> {
    text.unwrap_or("")
        .parse::<DocumentMut>()
        .map_err(|e| ConfigError(e.to_string().trim().to_string()))
}

/// Codex's event name in trust keys: `PostToolUse` → `post_tool_use`.
fn snake(event: &str) -> String {
    let mut out = String::new();
    for (i, c) in event.chars().enumerate() {
        if c.is_ascii_uppercase() {
            if i > 0 {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// The hash Codex computes for a command hook: SHA-256 of the compact JSON, keys sorted,
/// of `{"event_name", "hooks": [{"async", "command", "timeout", "type"}], "matcher"?}`.
pub fn trust_hash(event: &str, matcher: Option<&str>, command: &str, timeout: i64) -> String {
    // Written with the keys in sorted order; serde_json keeps that order.
    let handler = serde_json::json!({
        "async": false,
        "command": command,
        "timeout": timeout,
        "type": "command",
    });
    let mut root = serde_json::Map::new();
    root.insert("event_name".into(), serde_json::json!(snake(event)));
    root.insert("hooks".into(), serde_json::json!([handler]));
    if let Some(m) = matcher {
        root.insert("matcher".into(), serde_json::json!(m));
    }
    let text = serde_json::to_string(&root).expect("JSON serialises");
    format!("sha256:{}", crate::hex(&Sha256::digest(text.as_bytes())))
}

/// The trust key of a hook: `<config file>:<event>:<group>:<handler>`.
pub fn trust_key(source: &str, event: &str, group: usize, handler: usize) -> String {
    format!("{source}:{}:{group}:{handler}", snake(event))
}

fn is_own_group(group: &Table) -> bool {
    let Some(handlers) = group.get("hooks").and_then(Item::as_array_of_tables) else {
        return false;
    };
    handlers.len() == 1
        && handlers
            .get(0)
            .and_then(|h| h.get("command"))
            .and_then(Item::as_str)
            == Some(HOOK_COMMAND)
}

/// Indexes of telemhq's own groups of an event.
fn own_groups(doc: &DocumentMut, event: &str) -> Vec<usize> {
    doc.get("hooks")
        .and_then(|h| h.get(event))
        .and_then(Item::as_array_of_tables)
        .map(|groups| {
            groups
                .iter()
                .enumerate()
                .filter(|(_, g)| is_own_group(g))
                .map(|(i, _)| i)
                .collect()
        })
        .unwrap_or_default()
}

fn own_group(event: &str) -> Table {
    let mut handler = Table::new();
    handler["type"] = value("command");
    handler["command"] = value(HOOK_COMMAND);
    handler["timeout"] = value(TIMEOUT);
    let mut handlers = ArrayOfTables::new();
    handlers.push(handler);
    let mut group = Table::new();
    if event == TOOL_EVENT {
        group["matcher"] = value(TOOL_MATCHER);
    }
    group["hooks"] = Item::ArrayOfTables(handlers);
    group
}

/// The trust entries of telemhq's groups as the document holds them now.
fn own_trust(doc: &DocumentMut, source: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for event in [TURN_EVENT, TOOL_EVENT] {
        for g in own_groups(doc, event) {
            let matcher = (event == TOOL_EVENT).then_some(TOOL_MATCHER);
            out.push((
                trust_key(source, event, g, 0),
                trust_hash(event, matcher, HOOK_COMMAND, TIMEOUT),
            ));
        }
    }
    out
}

/// Removes the state entries whose keys telemhq wrote for this file (any group index:
/// a group that moved leaves its old key behind).
fn remove_own_trust(doc: &mut DocumentMut, source: &str) {
    let Some(state) = doc
        .get_mut("hooks")
        .and_then(|h| h.get_mut("state"))
        .and_then(Item::as_table_like_mut)
    else {
        return;
    };
    let ours: Vec<String> = state
        .iter()
        .map(|(k, _)| k.to_string())
        .filter(|k| {
            [TURN_EVENT, TOOL_EVENT].iter().any(|e| {
                let prefix = format!("{source}:{}:", snake(e));
                k.starts_with(&prefix)
            })
        })
        .filter(|k| {
            // Only entries holding the hash of telemhq's own hook.
            let hash = state
                .get(k)
                .and_then(|t| t.get("trusted_hash"))
                .and_then(Item::as_str);
            [TURN_EVENT, TOOL_EVENT].iter().any(|e| {
                let matcher = (*e == TOOL_EVENT).then_some(TOOL_MATCHER);
                hash == Some(trust_hash(e, matcher, HOOK_COMMAND, TIMEOUT).as_str())
            })
        })
        .collect();
    for k in ours {
        state.remove(&k);
    }
}

fn hooks_table<'d>(doc: &'d mut DocumentMut, created: &mut Created) -> &'d mut Table {
    if doc.get("hooks").is_none() {
        let mut t = Table::new();
        t.set_implicit(true);
        doc["hooks"] = Item::Table(t);
        created.hooks = true;
    }
    doc["hooks"].as_table_mut().expect("hooks is a table")
}

/// Puts telemhq's hooks (and their trust) into a config. `source` is the config file's
/// absolute path as Codex names it in trust keys. Returns the new text (unchanged text
/// when nothing changes) and what was created.
pub fn plan_install(
    text: Option<&str>,
    source: &str,
    tool_activity: Option<bool>,
) -> Result<(String, Created), ConfigError> {
    let mut doc = parse(text)?;
    if let Some(h) = doc.get("hooks")
        && !h.is_table()
    {
        return Err(ConfigError("`hooks` must be a table".into()));
    }
    let mut created = Created::default();
    let tools_now = !own_groups(&doc, TOOL_EVENT).is_empty();
    let want_tools = tool_activity.unwrap_or(tools_now);
    let before = doc.to_string();
    remove_own_trust(&mut doc, source);
    for (event, wanted) in [(TURN_EVENT, true), (TOOL_EVENT, want_tools)] {
        let present = own_groups(&doc, event);
        if wanted && present.len() == 1 {
            continue;
        }
        remove_groups(&mut doc, event, &present);
        if wanted {
            let hooks = hooks_table(&mut doc, &mut created);
            if hooks.get(event).is_none() {
                hooks[event] = Item::ArrayOfTables(ArrayOfTables::new());
                created.events.push(event.to_string());
            }
            let Some(groups) = hooks[event].as_array_of_tables_mut() else {
                return Err(ConfigError(format!(
                    "`hooks.{event}` must be an array of tables ([[hooks.{event}]])"
                )));
            };
            groups.push(own_group(event));
        }
    }
    let trust = own_trust(&doc, source);
    let hooks = hooks_table(&mut doc, &mut created);
    if hooks.get("state").is_none() {
        let mut t = Table::new();
        t.set_implicit(true);
        hooks["state"] = Item::Table(t);
        created.state = true;
    }
    let state = hooks["state"]
        .as_table_mut()
        .ok_or_else(|| ConfigError("`hooks.state` must be a table".into()))?;
    for (key, hash) in trust {
        let mut entry = Table::new();
        entry["trusted_hash"] = value(hash);
        state[key.as_str()] = Item::Table(entry);
    }
    let after = doc.to_string();
    if after == before {
        return Ok((text.unwrap_or("").to_string(), created));
    }
    Ok((after, created))
}

fn remove_groups(doc: &mut DocumentMut, event: &str, indexes: &[usize]) {
    if let Some(groups) = doc
        .get_mut("hooks")
        .and_then(|h| h.get_mut(event))
        .and_then(Item::as_array_of_tables_mut)
    {
        for &i in indexes.iter().rev() {
            groups.remove(i);
        }
    }
}

/// Takes telemhq's hooks and trust entries out, and the containers install created that
/// are empty now. Returns the new text.
pub fn plan_uninstall(
    text: Option<&str>,
    source: &str,
    created: &Created,
) -> Result<String, ConfigError> {
    let mut doc = parse(text)?;
    let before = doc.to_string();
    remove_own_trust(&mut doc, source);
    for event in [TURN_EVENT, TOOL_EVENT] {
        let own = own_groups(&doc, event);
        remove_groups(&mut doc, event, &own);
    }
    if let Some(hooks) = doc.get_mut("hooks").and_then(Item::as_table_mut) {
        for event in &created.events {
            if hooks
                .get(event)
                .and_then(Item::as_array_of_tables)
                .is_some_and(|g| g.is_empty())
            {
                hooks.remove(event);
            }
        }
        if created.state
            && hooks
                .get("state")
                .and_then(Item::as_table)
                .is_some_and(|t| t.is_empty())
        {
            hooks.remove("state");
        }
    }
    if created.hooks
        && doc
            .get("hooks")
            .and_then(Item::as_table)
            .is_some_and(|t| t.is_empty())
    {
        doc.remove("hooks");
    }
    let after = doc.to_string();
    if after == before {
        return Ok(text.unwrap_or("").to_string());
    }
    Ok(after)
}

/// Events that carry telemhq's hook in this config.
pub fn installed_events(text: &str) -> Vec<&'static str> {
    let Ok(doc) = text.parse::<DocumentMut>() else {
        return Vec::new();
    };
    [TURN_EVENT, TOOL_EVENT]
        .into_iter()
        .filter(|e| !own_groups(&doc, e).is_empty())
        .collect()
}

/// telemhq's hooks whose trust entry does not hold the hash Codex computes for the hook
/// as the file holds it now (so a hand-edited timeout or matcher shows up here).
pub fn untrusted_events(text: &str, source: &str) -> Vec<&'static str> {
    let Ok(doc) = text.parse::<DocumentMut>() else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for event in [TURN_EVENT, TOOL_EVENT] {
        let groups = doc
            .get("hooks")
            .and_then(|h| h.get(event))
            .and_then(Item::as_array_of_tables);
        for g in own_groups(&doc, event) {
            let Some(group) = groups.and_then(|gs| gs.get(g)) else {
                continue;
            };
            let handler = group
                .get("hooks")
                .and_then(Item::as_array_of_tables)
                .and_then(|h| h.get(0));
            // Codex's default timeout is 600 seconds.
            let timeout = handler
                .and_then(|h| h.get("timeout"))
                .and_then(Item::as_integer)
                .unwrap_or(600);
            let matcher = group.get("matcher").and_then(Item::as_str);
            let want = trust_hash(event, matcher, HOOK_COMMAND, timeout);
            let key = trust_key(source, event, g, 0);
            let have = doc
                .get("hooks")
                .and_then(|h| h.get("state"))
                .and_then(|s| s.get(&key))
                .and_then(|t| t.get("trusted_hash"))
                .and_then(Item::as_str);
            if have != Some(want.as_str()) {
                out.push(event);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const SOURCE: &str = "/home/dev/.codex/config.toml";
    const USER: &str = r#"# my Codex settings
model = "gpt-5"   # the default
model_provider = "mock"

[model_providers.mock]
name = "Mock"
base_url = "http://127.0.0.1:9/v1"

# keep my own hook
[[hooks.Stop]]
[[hooks.Stop.hooks]]
type = "command"
command = "say done"
"#;

    #[test]
    fn install_then_uninstall_gives_back_the_same_bytes() {
        for text in [Some(USER), None, Some(""), Some("model = \"x\"\n")] {
            for tools in [Some(true), Some(false)] {
                let (installed, created) = plan_install(text, SOURCE, tools).unwrap();
                assert!(installed.contains(HOOK_COMMAND), "{installed}");
                let again = plan_install(Some(&installed), SOURCE, None).unwrap().0;
                assert_eq!(again, installed, "installing twice changes nothing");
                let back = plan_uninstall(Some(&installed), SOURCE, &created).unwrap();
                assert_eq!(back, text.unwrap_or(""), "{installed}");
            }
        }
    }

    #[test]
    fn the_users_hook_and_comments_stay_and_ours_is_trusted() {
        let (installed, _) = plan_install(Some(USER), SOURCE, Some(true)).unwrap();
        assert!(installed.starts_with(USER.trim_end()), "{installed}");
        assert!(installed.contains("command = \"say done\""));
        assert_eq!(installed_events(&installed), ["Stop", "PostToolUse"]);
        assert!(
            untrusted_events(&installed, SOURCE).is_empty(),
            "{installed}"
        );
        // Ours is the second Stop group: its trust key says so.
        assert!(
            installed.contains(&format!("\"{SOURCE}:stop:1:0\"")),
            "{installed}"
        );
        // A hand-edited command is no longer telemhq's; a hand-edited timeout is untrusted.
        let edited = installed.replacen("--agent codex || true", "--agent codex", 1);
        assert!(!installed_events(&edited).contains(&"Stop"));
        let edited = installed.replacen("timeout = 10", "timeout = 30", 1);
        assert_eq!(untrusted_events(&edited, SOURCE), ["Stop"]);
    }

    #[test]
    fn the_trust_hash_is_codexs() {
        // Computed as Codex 0.169.0 does (codex-rs/hooks/src/engine/discovery.rs).
        let hash = trust_hash("Stop", None, "echo hi", 600);
        let expected = format!(
            "sha256:{}",
            crate::hex(&Sha256::digest(
                br#"{"event_name":"stop","hooks":[{"async":false,"command":"echo hi","timeout":600,"type":"command"}]}"#
            ))
        );
        assert_eq!(hash, expected);
        assert_eq!(snake("PostToolUse"), "post_tool_use");
    }

    #[test]
    fn a_config_that_is_not_toml_is_refused_with_its_place() {
        let err = plan_install(Some("model = \n"), SOURCE, None).unwrap_err();
        assert!(err.0.contains("line 1"), "{err:?}");
    }
}
