"""Training formats: how a conversation becomes text for a model family (`chat_format`), how a
model's own chat template is read (`jinja_chat`, `template_format`), and how an Ollama
TEMPLATE is rendered and checked against it (`gotemplate`, `template_check`)."""
