//! Reusable pieces: dialogs and their one footer, the form state every form
//! uses, the best-practice guidance (expiry presets, warnings), toasts, the
//! secret modal, key forms and dialogs, the usage chart, the access log,
//! page navigation, icons, the rate-limit field and the loading and error
//! states.

pub mod access_log;
pub mod dialog_footer;
pub mod form;
pub mod guidance;
pub mod icons;
pub mod key_dialogs;
pub mod key_form;
pub mod modal;
pub mod page_nav;
pub mod permissions;
pub mod rate_limit;
pub mod secret_modal;
pub mod states;
pub mod toast;
pub mod usage_chart;
