from django.apps import AppConfig


class RegistryConfig(AppConfig):
    name = "registry"
    verbose_name = "Agent registry"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # The registry's own parts of the shared pages; the apps above add theirs the same way.
        from auditlog.models import LogEntry
        from auditlog.signals import pre_log
        from django.contrib.auth import get_user_model
        from django.contrib.auth.signals import user_logged_in, user_login_failed
        from django.db.models.signals import post_delete, post_save, pre_save

        from . import audit_sources
        from .agent_key_cache import key_changed
        from .assurance import record_password_sign_in
        from .audit import request_context_receiver
        from .extensions import NavItem, agent_card_sections, home_panels, nav_items
        from .lifecycle import account_saved, orphaned_card_section, orphaned_home_panel
        from .mfa import second_step_on_login
        from .models import Agent, AgentAPIKey
        from .panels import registry_home_panel
        from .rights_audit import rights_audit_register
        from .session_expiry import session_stamp_on_login
        from .sso import checks  # noqa: F401  (registers the SSO configuration check)

        for model in (Agent, AgentAPIKey):
            for signal in (post_save, post_delete):
                signal.connect(
                    key_changed, sender=model, dispatch_uid=f"registry.key_changed.{model.__name__}.{id(signal)}"
                )
        rights_audit_register()
        user_logged_in.connect(session_stamp_on_login, dispatch_uid="registry.session_stamp_on_login")
        user_logged_in.connect(record_password_sign_in, dispatch_uid="registry.record_password_sign_in")
        # The audit chain's own sources (issue 15): auditlog's entries and logins.
        pre_log.connect(audit_sources.remember_logged_instance, dispatch_uid="registry.audit_chain_pre_log")
        post_save.connect(audit_sources.chain_logentry, sender=LogEntry, dispatch_uid="registry.audit_chain_logentry")
        # The request's audit context (registry/audit.py, AuditContextMiddleware): one receiver for good.
        pre_save.connect(request_context_receiver, sender=LogEntry, dispatch_uid="registry.request_audit_context")
        user_logged_in.connect(audit_sources.chain_login, dispatch_uid="registry.audit_chain_login")
        user_login_failed.connect(audit_sources.chain_login_failed, dispatch_uid="registry.audit_chain_login_failed")
        user_logged_in.connect(second_step_on_login, dispatch_uid="registry.second_step_on_login")

        home_panels.register(registry_home_panel, order=10)
        # Orphaned agents (owner or sponsor inactive): first on the card, next to "My agents".
        home_panels.register(orphaned_home_panel, order=11)
        agent_card_sections.register(orphaned_card_section, order=0)
        post_save.connect(account_saved, sender=get_user_model(), dispatch_uid="registry.lifecycle.account_saved")
        nav_items.register(NavItem("Home", "home"), order=0)
        nav_items.register(NavItem("Agents", "registry:agent_list", perm="registry.view_agent"), order=10)
