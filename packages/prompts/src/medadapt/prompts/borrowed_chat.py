"""The chat template for prompts a model borrows from a chat model (medopt), when it has none of its own."""

from __future__ import annotations


def borrowed_chat_template(
    own: str | None,
    family_template: str | None,
    *,
    family: str | None = None,
    model: str = "the model",
    lender: str | None = None,
) -> str:
    """The model's own chat template, else the study's template of its family (`family_template`, from
    medadapt-models' registry), else the `lender`'s (the template of the model whose prompt it borrows), else a
    clear error.

    medopt renders the medical model's prompt in the medical model's layout with the general model's tokenizer.
    When the medical model is a chat model and the general one is not, the study installed its family's chat
    template on the general model's tokenizer (Llama-2-70B with ClinicalCamel-70B's prompts, Llama-3-8B with
    OpenBioLLM-8B's; docs/protocol.md, medopt). Beyond the study's families, the medical model's own template is
    the closest to what that model saw.
    """
    template = own or family_template or lender
    if template is None:
        raise ValueError(
            f"{model} (family {family!r}) has no chat template, but the prompt it is given is a chat prompt "
            "(medopt with a chat medical model) that names no template, and the study had no template for its "
            "family: give the model a chat template (e.g. a registry chat_template_patch)"
        )
    return template
