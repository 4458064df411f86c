"""Prompt templates with ids. The template id is stored with every generation.

Families: 'qa' (short factual answers), 'math' (a final number), 'code' (a Python function).
Each bundled data set has a default template; the fragility sweep may ask for others of the same family.
"""
from __future__ import annotations

from dataclasses import dataclass

from ..schema import Question


@dataclass(frozen=True)
class Template:
    id: str
    family: str
    text: str               # user message; {question} is replaced
    max_new_tokens: int
    stop_newline: bool
    description: str


TEMPLATES: dict[str, Template] = {t.id: t for t in [
    Template("qa_short", "qa", "Answer the question with a short answer only (a few words, no explanation).\n"
             "Question: {question}", 20, True, "default short-answer prompt"),
    Template("qa_terse", "qa", "{question} Reply with just the answer.", 20, True, "paraphrase: terse"),
    Template("qa_quiz", "qa", "You are taking a quiz. Give only the answer, no sentence.\nQ: {question}\nA:",
             20, True, "paraphrase: quiz framing"),
    Template("math_final", "math", "Solve the problem. Reply with only the final number, no working.\n"
             "Problem: {question}", 32, True, "final number only"),
    Template("math_terse", "math", "{question}\nAnswer with a single number.", 32, True, "paraphrase: terse"),
    Template("code_function", "code", "Complete the following Python function. Reply with the complete function "
             "in one ```python code block and nothing else.\n\n{question}", 160, False,
             "complete the function in a fenced block"),
]}

DEFAULT_TEMPLATE = {"capitals": "qa_short", "nq_open": "qa_short", "arithmetic": "math_final",
                    "svamp": "math_final", "gsm8k": "math_final", "humaneval": "code_function"}
VERIFIER_FAMILY = {"alias": "qa", "numeric": "math", "unit_test": "code"}

P_TRUE_PROMPT = ("Question: {question}\nProposed answer: {answer}\n"
                 "Is the proposed answer:\n (A) True\n (B) False")
P_TRUE_PREFIX = "The proposed answer is:"
VERBALIZED_PREFIX = "My confidence (0-100) is"
P_TRUE_OPTIONS = {"true": ["True", "A"], "false": ["False", "B"]}
VERBALIZED_PROMPT = ("Question: {question}\nProposed answer: {answer}\n"
                     "How confident are you that the proposed answer is correct? "
                     "Reply with a single number from 0 to 100.")


def family_of(question: Question) -> str:
    return VERIFIER_FAMILY[question.verifier]


def default_template(question: Question) -> Template:
    tid = DEFAULT_TEMPLATE.get(question.dataset)
    if tid is None:
        tid = {"qa": "qa_short", "math": "math_final", "code": "code_function"}[family_of(question)]
    return TEMPLATES[tid]


def get_template(template_id: str) -> Template:
    try:
        return TEMPLATES[template_id]
    except KeyError:
        raise ValueError(f"unknown template {template_id!r}; known: {', '.join(TEMPLATES)}") from None


def question_text(question: Question) -> str:
    """What goes into the prompt: HumanEval's function stub, else the question text."""
    return question.payload.get("prompt", question.text) if question.verifier == "unit_test" else question.text


def answer_messages(question: Question, template: Template) -> list[dict[str, str]]:
    return [{"role": "user", "content": template.text.format(question=question_text(question))}]


def p_true_messages(question: Question, answer: str) -> list[dict[str, str]]:
    """The P(true) prompt; the reply is started for the model so that its next token is the choice."""
    return [{"role": "user", "content": P_TRUE_PROMPT.format(question=question_text(question), answer=answer)},
            {"role": "assistant", "content": P_TRUE_PREFIX}]


def verbalized_messages(question: Question, answer: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": VERBALIZED_PROMPT.format(question=question_text(question), answer=answer)},
            {"role": "assistant", "content": VERBALIZED_PREFIX}]


def parse_verbalized(reply: str) -> float | None:
    """The first number 0-100 in the reply (a trailing % allowed); None when there is none or when the reply
    is an equation (the model echoing arithmetic, not stating a confidence)."""
    import re
    if re.search(r"\d\s*[-+*/x×=]\s*\d|=", reply or ""):
        return None
    for m in re.finditer(r"(?<![\d.])(\d{1,3}(?:\.\d+)?)\s*%?", reply or ""):
        v = float(m.group(1))
        if 0 <= v <= 100:
            return v
    return None
