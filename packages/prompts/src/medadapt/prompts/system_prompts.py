"""The study's system prompts as data (docs/protocol.md#system-prompts), verbatim, and the rule that picks the
default one."""

from __future__ import annotations

import random

from medadapt.prompts.tasks.registry import get_task

DEFAULT_MCQ = (
    "The following is a multiple-choice question about medical knowledge. Answer the question by choosing one of "
    "the options from A to {last}."
)
# Clinical-note tasks override every model's prompt (keyed by TaskSpec.system_prompt_key).
TASK_SYSTEM_PROMPTS: dict[str, str] = {
    "mednli": "The following is a natural language inference task based on a patient's past medical history. "
    "Answer the question by choosing one of the options from A to C.",
    "ehrnoteqa": "The following is a multiple-choice question about the provided discharge summaries. Answer the "
    "question by choosing one of the options from A to E.",
    "n2c2": "Answer whether the patient described in the discharge summary has the mentioned comorbidity for "
    "obesity. Choose one of the options from A to C.",
    "sense": "Provide the correct expansion for the specified clinical acronym in each clinical note snippet. "
    "Answer the question by choosing one of the provided options.",
}
MEDITRON_USMLE = (
    "You are a medical doctor taking the US Medical Licensing Examination. You need to demonstrate your "
    "understanding of basic and clinical science, medical knowledge, and mechanisms underlying health, disease, "
    "patient care, and modes of therapy. Show your ability to apply the knowledge essential for medical practice. "
    "For the following multiple-choice question, select one correct answer from A to {last}. Base your answer on "
    "the current and standard practices referenced in medical guidelines."
)
MEDITRON_EXAM = (
    "You are a medical doctor answering real-world medical entrance exam questions. Based on your understanding of "
    "basic and clinical science, medical knowledge, and mechanisms underlying health, disease, patient care, and "
    "modes of therapy, answer the following multiple-choice question. Select one correct answer from A to D. Base "
    "your answer on the current and standard practices referenced in medical guidelines."
)
MEDITRON_PUBMEDQA = (
    "As an expert doctor in clinical science and medical knowledge, can you tell me if the following statement is "
    "correct? Answer yes, no, or maybe."
)
MODEL_SYSTEM_PROMPTS: dict[str, str] = {
    "biomistral": "The following are multiple choice questions (with answers) about medical knowledge.",
    "openbiollm": "You are an expert and experienced from the healthcare and biomedical domain with extensive "
    "medical knowledge and practical experience. Your name is OpenBioLLM, and you were developed by Saama AI Labs. "
    "who's willing to help answer the user's query with explanation. In your explanation, leverage your deep "
    "medical expertise such as relevant anatomical structures, physiological processes, diagnostic criteria, "
    "treatment guidelines, or other pertinent medical concepts. Use precise medical terminology while still aiming "
    "to make the explanation clear and accessible to a general audience.",
    "med42-v1": "You are a helpful medical assistant created by M42 Health in the UAE.",
    "med42-v2": "You are a helpful, respectful and honest medical assistant. You are a second version of Med42 "
    "developed by the AI team at M42, UAE. Always answer as helpfully as possible, while being safe. Your answers "
    "should not include any harmful, unethical, racist, sexist, toxic, dangerous, or illegal content. Please ensure "
    "that your responses are socially unbiased and positive in nature. If a question does not make any sense, or is "
    "not factually coherent, explain why instead of answering something not correct. If you don\u2019t know the "
    "answer to a question, please don\u2019t share false information.",
}
VLM_SYSTEM_PROMPTS: dict[str, str] = {
    "llava-v0": "A chat between a curious human and an artificial intelligence assistant. The assistant gives "
    "helpful, detailed, and polite answers to the human's questions.",
    "llava-med": "You are LLaVA-Med, a large language and vision assistant trained by a group of researchers at "
    "Microsoft, based on the general domain LLaVA architecture. You are able to understand the visual content that "
    "the user provides, and assist the user with a variety of medical and clinical tasks using natural language."
    "Follow the instructions carefully and explain your answers in detail.",
    "med-flamingo": "You are a helpful medical assistant. You are being provided with images, a question about the "
    "image and an answer. Follow the examples and answer the last question.",
    "open-flamingo": "The following is a multiple-choice visual question requiring medical knowledge. Answer the "
    "question by choosing one of the provided answer options.",
}
# The study's sampled pool (CHOSEN_SYS_PROMPT_LIST); '{}' = last option letter.
# Our description of the study quotes 3 of its 11.
SAMPLED_SYSTEM_PROMPTS_KNOWN: tuple[str, ...] = (
    "The following is a multiple-choice question about medical knowledge. Answer the question by choosing one of "
    "the options from A to {}.",
    "This is a multiple-choice medical knowledge question. Select your answer from options A to {}.",
    "Answer the multiple-choice question below on medical knowledge by choosing from A to {}.",
)
SYSTEM_PROMPT_KEYS: tuple[str, ...] = ("default", "meditron", *MODEL_SYSTEM_PROMPTS, *VLM_SYSTEM_PROMPTS)


def _last_letter(n_options: int) -> str:
    return chr(ord("A") + n_options - 1)


def default_system_prompt(key: str, task: str) -> str:
    """The study's default system prompt for a model (by system-prompt key or style name) on `task`."""
    spec = get_task(task)
    if spec.kind == "vqa":
        vlm_key = key if key in VLM_SYSTEM_PROMPTS else "open-flamingo"
        return VLM_SYSTEM_PROMPTS[vlm_key]
    if spec.system_prompt_key in TASK_SYSTEM_PROMPTS:
        return TASK_SYSTEM_PROMPTS[spec.system_prompt_key]
    n_options = spec.n_options or 4
    if key.startswith("meditron"):
        if spec.family == "medqa":
            return MEDITRON_USMLE.format(last=_last_letter(n_options))
        if spec.family == "pubmedqa":
            return MEDITRON_PUBMEDQA
        return MEDITRON_EXAM
    if key in MODEL_SYSTEM_PROMPTS:
        return MODEL_SYSTEM_PROMPTS[key]
    return DEFAULT_MCQ.format(last=_last_letter(n_options))


def sample_system_prompt(
    seed: int, n_options: int, pool: tuple[str, ...] = SAMPLED_SYSTEM_PROMPTS_KNOWN
) -> str:
    """`random.seed(seed); random.choice(pool)` formatted with the last letter (matches the study only with its full pool)."""
    return random.Random(seed).choice(pool).format(_last_letter(n_options))
