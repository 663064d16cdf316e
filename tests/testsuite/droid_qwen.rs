//! What stops Factory Droid and Qwen Code running telemhq's hooks, as doctor tells it:
//! a Droid `hooks.json` list that hides the same event's hooks in `settings.json`, and
//! Qwen Code's folder trust for a repository's hooks.

use serde_json::json;

use crate::support::{TestHome, doctor_check, stderr};

#[test]
fn doctor_says_when_droids_hooks_json_hides_telemhqs_hooks_in_settings_json() {
    let t = TestHome::new();
    let factory = t.home.join(".factory");
    std::fs::create_dir_all(&factory).unwrap();
    let user_stop = json!({"hooks": [{"type": "command", "command": "say done"}]});
    std::fs::write(
        factory.join("settings.json"),
        serde_json::to_string_pretty(&json!({"hooks": {"Stop": [user_stop]}})).unwrap(),
    )
    .unwrap();
    let out = t.install(&["--global", "--agent", "droid"]);
    assert!(stderr(&out).contains("settings.json"), "{}", stderr(&out));
    assert_eq!(doctor_check(&t, "droid.global")["status"], "ok");
    // Later, a Stop list in hooks.json: Droid now runs that one alone.
    std::fs::write(
        factory.join("hooks.json"),
        serde_json::to_string_pretty(&json!({"Stop": [user_stop]})).unwrap(),
    )
    .unwrap();
    let c = doctor_check(&t, "droid.global");
    assert_ne!(c["status"], "ok", "{c:#}");
    let said = c.to_string();
    assert!(said.contains("hides"), "{c:#}");
    assert!(said.contains("hooks.json"), "{c:#}");
}

#[test]
fn doctor_says_when_qwen_code_does_not_trust_the_repository() {
    let t = TestHome::new();
    let qwen = t.home.join(".qwen");
    std::fs::create_dir_all(&qwen).unwrap();
    std::fs::write(
        qwen.join("settings.json"),
        r#"{"security": {"folderTrust": {"enabled": true}}}"#,
    )
    .unwrap();
    t.install(&["--repo", "--agent", "qwen"]);
    let c = doctor_check(&t, "qwen.repo");
    assert_ne!(c["status"], "ok", "{c:#}");
    assert!(c.to_string().contains("does not trust"), "{c:#}");
    let repo = std::fs::canonicalize(&t.repo).unwrap();
    std::fs::write(
        qwen.join("trustedFolders.json"),
        json!({repo.display().to_string(): "TRUST_FOLDER"}).to_string(),
    )
    .unwrap();
    let c = doctor_check(&t, "qwen.repo");
    assert!(!c.to_string().contains("does not trust"), "{c:#}");
}
