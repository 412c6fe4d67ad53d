"""The document upload form: a file or a link, its owner and review date."""

from __future__ import annotations

from django import forms
from django.contrib.auth import get_user_model

from .choices import DocumentKind


class DocumentForm(forms.Form):
    kind = forms.ChoiceField(choices=DocumentKind.choices)
    title = forms.CharField(max_length=200)
    file = forms.FileField(
        required=False, help_text="PDF, Markdown, text, PNG, JPEG, SVG, JSON or CSV; scanned on upload."
    )
    url = forms.URLField(label="or a link", required=False, max_length=500, assume_scheme="https")
    owner = forms.ModelChoiceField(queryset=get_user_model().objects.none())
    review_due = forms.DateField(label="review date", widget=forms.DateInput(attrs={"type": "date"}))
    note = forms.CharField(required=False, max_length=2000, widget=forms.Textarea(attrs={"rows": 2}))

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["owner"].queryset = get_user_model().objects.filter(is_active=True).order_by("username")
        for field in self.fields.values():
            css = "form-select" if isinstance(field.widget, forms.Select) else "form-control"
            field.widget.attrs.setdefault("class", css)

    def clean(self):
        data = super().clean()
        if bool(data.get("file")) == bool(data.get("url")):
            raise forms.ValidationError("Upload a file or give a link (one of them).")
        return data
