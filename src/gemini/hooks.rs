//! telemhq's hook groups for Gemini CLI's `settings.json`, which holds hooks in Claude
//! Code's shape (`hooks.<event>` → groups with `matcher` and `hooks`), with the timeout
//! in milliseconds.

use serde_json::Value;

use crate::hook_groups::{self, Created, HookSet, Plan, ShapeError, ToolActivity};

/// Gemini CLI puts `CLAUDE_PROJECT_DIR` into its hooks' environment too, so the command
/// says which agent runs it. Like Claude Code's, it needs no PATH, holds no personal
/// path, prints nothing on stdout (Gemini CLI takes a hook's stdout as JSON) and never
/// fails the turn (`|| true`).
pub const HOOK_COMMAND: &str =
    r#""${CLAUDE_CONFIG_DIR:-$HOME/.claude}/hooks/telemhq" emit --agent gemini || true"#;

pub const OWN_COMMANDS: [&str; 1] = [HOOK_COMMAND];

pub const GEMINI: HookSet = HookSet {
    command: HOOK_COMMAND,
    own_commands: &OWN_COMMANDS,
    turn_template: include_str!("../../templates/gemini-turn-hooks.json"),
    tool_template: include_str!("../../templates/gemini-tool-activity-hooks.json"),
};

/// Events that carry a telemhq handler in this settings document.
pub fn installed_events(doc: &Value) -> Vec<String> {
    hook_groups::installed_events(doc, &GEMINI)
}

/// Puts telemhq's hook groups into a Gemini CLI settings document.
pub fn plan_install(
    doc: &Value,
    tool_activity: ToolActivity,
    previously_created: &Created,
) -> Result<Plan, ShapeError> {
    hook_groups::plan_install(doc, &GEMINI, tool_activity, previously_created)
}

/// Takes telemhq's handlers out of a Gemini CLI settings document.
pub fn plan_uninstall(doc: &Value, created: &Created) -> Result<Plan, ShapeError> {
    hook_groups::plan_uninstall(doc, &GEMINI, created)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn groups_carry_the_gemini_command_and_a_timeout_in_milliseconds() {
        assert_eq!(GEMINI.turn_events(), ["AfterAgent"]);
        assert_eq!(GEMINI.tool_events(), ["AfterTool"]);
        for event in ["AfterAgent", "AfterTool"] {
            let handler = &GEMINI.template_group(event).unwrap()["hooks"][0];
            assert_eq!(handler["command"], HOOK_COMMAND);
            assert_eq!(handler["timeout"], 5000, "milliseconds: 5 s");
        }
    }

    #[test]
    fn install_and_uninstall_leave_the_users_settings_as_they_were() {
        let doc = json!({
            "security": {"auth": {"selectedType": "gemini-api-key"}},
            "hooks": {"AfterAgent": [{"matcher": "*", "hooks": [{"type": "command", "command": "notify-send done"}]}]}
        });
        let plan = plan_install(&doc, ToolActivity::On, &Created::default()).unwrap();
        let after = &plan.new["hooks"];
        assert_eq!(after["AfterAgent"].as_array().unwrap().len(), 2);
        assert_eq!(after["AfterTool"][0]["hooks"][0]["command"], HOOK_COMMAND);
        let again = plan_install(&plan.new, ToolActivity::Keep, &plan.created).unwrap();
        assert!(again.changes_nothing());
        let back = plan_uninstall(&plan.new, &plan.created).unwrap();
        assert_eq!(back.new, doc);
    }
}
