//! telemhq's hook groups for Claude Code's settings, and how its command is recognised.
//! The plans themselves are in `hookfile::groups` (Gemini CLI's settings share the shape).

use serde_json::Value;

use crate::hookfile::HookSet;

/// The one command every scope installs, byte-identical everywhere, so that Claude Code
/// (which runs identical commands once) never pings twice for a global plus a repo
/// install. The shell expands the variables when the hook runs, so it works without the
/// user's PATH and puts no one's home folder into a committed file. `|| true` keeps a
/// teammate who shares a repo's settings but has no telemhq free of hook errors.
/// `trap '' TERM HUP` first: a headless run signals its StopFailure hook's process
/// group as it exits, often before telemhq has started; ignored from the shell's first
/// step on (and inherited by telemhq, which sets its own handler), the event is queued.
pub const HOOK_COMMAND: &str = concat!("trap '' TERM HUP; ", crate::hook_link!(), " emit || true");

/// The command of the first release (install replaces it with `HOOK_COMMAND`).
pub const FIRST_RELEASE_COMMAND: &str = concat!(crate::hook_link!(), " emit || true");

pub const TURN_EVENTS: [&str; 2] = ["Stop", "StopFailure"];
pub const TOOL_EVENTS: [&str; 2] = ["PostToolUse", "PostToolUseFailure"];

/// Every command string a telemhq release has installed (this one's first). telemhq's
/// entries are recognised by these exact strings (Claude Code strips unknown keys from
/// hook entries, so no marker key would survive), and nothing looser: a user's own hook
/// that merely mentions telemhq is never replaced, removed or run by telemhq.
pub const OWN_COMMANDS: [&str; 2] = [HOOK_COMMAND, FIRST_RELEASE_COMMAND];

/// telemhq's groups in Claude Code's settings.
pub const CLAUDE: HookSet = HookSet {
    command: HOOK_COMMAND,
    own_commands: &OWN_COMMANDS,
    turn_template: include_str!("../../../templates/turn-hooks.json"),
    tool_template: include_str!("../../../templates/tool-activity-hooks.json"),
};

/// Whether a hook command is exactly one that telemhq installs.
pub fn is_telemhq_command(command: &str) -> bool {
    CLAUDE.is_own_command(command)
}

/// The group telemhq installs for an event.
pub fn template_group(event: &str) -> Option<Value> {
    CLAUDE.template_group(event)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hookfile::groups::{self, Created, Plan, ToolActivity};
    use serde_json::json;

    fn plan_install(
        doc: &Value,
        tools: ToolActivity,
        created: &Created,
    ) -> Result<Plan, crate::hookfile::ShapeError> {
        groups::plan_install(doc, &CLAUDE, tools, created)
    }

    fn plan_uninstall(doc: &Value, created: &Created) -> Result<Plan, crate::hookfile::ShapeError> {
        groups::plan_uninstall(doc, &CLAUDE, created)
    }

    #[test]
    fn recognises_telemhq_commands_by_their_exact_string() {
        assert!(is_telemhq_command(HOOK_COMMAND));
        for users_own in [
            "/usr/local/bin/telemhq emit",
            "echo \"telemhq emit check\" >> ~/notes.log",
            "cd ~/src/telemhq && make emit",
            "python3 telemhq_ping.py",
            &format!("{HOOK_COMMAND}; id > /tmp/x"),
        ] {
            assert!(!is_telemhq_command(users_own), "{users_own}");
        }
        assert!(crate::hookfile::looks_like_telemhq(
            "/usr/local/bin/telemhq emit"
        ));
        assert!(!crate::hookfile::looks_like_telemhq("echo done"));
    }

    #[test]
    fn templates_carry_the_command_and_a_timeout() {
        for event in TURN_EVENTS.iter().chain(TOOL_EVENTS.iter()) {
            let group = template_group(event).unwrap();
            let handler = &group["hooks"][0];
            assert_eq!(handler["command"], HOOK_COMMAND);
            assert!(
                handler["timeout"].as_u64().is_some(),
                "{event} has a timeout"
            );
        }
        assert_eq!(template_group("StopFailure").unwrap()["matcher"], "*");
        assert_eq!(
            template_group("PostToolUse").unwrap()["matcher"],
            "Bash|Edit|MultiEdit|Write"
        );
        assert_eq!(
            template_group("PostToolUseFailure").unwrap()["matcher"],
            "*"
        );
    }

    #[test]
    fn install_twice_plans_nothing_the_second_time() {
        let doc = json!({"model": "x"});
        let first = plan_install(&doc, ToolActivity::On, &Created::default()).unwrap();
        assert!(first.created.hooks);
        let second = plan_install(&first.new, ToolActivity::Keep, &first.created).unwrap();
        assert!(second.changes_nothing(), "{:?}", second.ops);
    }

    #[test]
    fn a_users_hook_that_mentions_telemhq_is_kept() {
        let users = "cd ~/src/telemhq && make emit";
        let doc = json!({"hooks": {"Stop": [{"hooks": [{"type": "command", "command": users}]}]}});
        let plan = plan_install(&doc, ToolActivity::Keep, &Created::default()).unwrap();
        let stop = plan.new["hooks"]["Stop"].as_array().unwrap();
        assert_eq!(stop.len(), 2);
        assert_eq!(stop[0]["hooks"][0]["command"], users);
        let back = plan_uninstall(&plan.new, &plan.created).unwrap();
        assert_eq!(back.new, doc);
    }

    #[test]
    fn uninstall_keeps_other_handlers_in_a_shared_group() {
        let doc = json!({"hooks": {"Stop": [{"hooks": [
            {"type": "command", "command": "say done"},
            {"type": "command", "command": HOOK_COMMAND}
        ]}]}});
        let plan = plan_uninstall(
            &doc,
            &Created {
                hooks: true,
                events: vec!["Stop".into()],
            },
        )
        .unwrap();
        assert_eq!(
            plan.new,
            json!({"hooks": {"Stop": [{"hooks": [{"type": "command", "command": "say done"}]}]}})
        );
    }

    #[test]
    fn wrong_shapes_name_their_path() {
        let cases = [
            (json!([]), "(the top level)"),
            (json!({"hooks": []}), "hooks"),
            (json!({"hooks": {"Stop": {}}}), "hooks.Stop"),
            (
                json!({"hooks": {"Stop": [{"matcher": "*"}]}}),
                "hooks.Stop[0].hooks",
            ),
            (
                json!({"hooks": {"Stop": [{"hooks": {}}]}}),
                "hooks.Stop[0].hooks",
            ),
            (
                json!({"hooks": {"Stop": [{"hooks": [1]}]}}),
                "hooks.Stop[0].hooks[0]",
            ),
        ];
        for (doc, path) in cases {
            let err = plan_install(&doc, ToolActivity::Keep, &Created::default()).unwrap_err();
            assert_eq!(err.path, path, "{doc}");
        }
    }
}
