"""Pure translation between the OpenAI Responses API and chat completions.

``to_chat`` turns a parsed Responses request into a chat-completions body (without ``model``)
plus a :class:`ToolMap` that remembers how tool names were flattened; ``output_items`` turns the
upstream's answer back into Responses output items using that map. No I/O happens here.

Why the shapes are what they are (see the reference captures of Codex 0.169.0):

- ``namespace`` tools (``multi_agent_v1``) do not exist in chat completions, so their functions
  are flattened to ``<namespace>__<name>`` and the namespace is restored on the calls returned;
  Codex rejects a namespaced call that comes back without it.
- ``custom`` tools (``apply_patch`` with a lark grammar) become a function with one string
  argument ``input``; calls of it come back as ``custom_tool_call`` items.
- Hosted tools (web search, local shell, image generation, ...) cannot run upstream and an
  upstream answers 400 when it sees them, so they are dropped.
- Upstream ``reasoning_content`` rides in a ``reasoning`` item's ``encrypted_content``; Codex
  echoes that item back on the next turn, and it is sent upstream again on the assistant
  message it preceded (DeepSeek and Kimi thinking models require it).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from typing import Any

from runtime.bounded_json import loads_bounded

__all__ = [
    "DROPPED_TOOL_TYPES",
    "NAMESPACE_SEPARATOR",
    "ChatRequest",
    "ToolMap",
    "ToolRef",
    "TranslationError",
    "new_id",
    "output_items",
    "to_chat",
]

NAMESPACE_SEPARATOR = "__"
CUSTOM_INPUT_FIELD = "input"

# Tools the upstream cannot run (they are hosted by OpenAI or by the client itself).
DROPPED_TOOL_TYPES = frozenset(
    {
        "web_search",
        "web_search_preview",
        "web_search_preview_2025_03_11",
        "local_shell",
        "shell",
        "image_generation",
        "file_search",
        "code_interpreter",
        "computer_use_preview",
        "computer_use",
        "mcp",
        "tool_search",
    }
)

_TEXT_PARTS = frozenset({"input_text", "output_text", "text", "summary_text", "reasoning_text"})


class TranslationError(ValueError):
    """A request the bridge cannot translate; the message names the offending field."""

    def __init__(self, message: str, param: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.param = param


@dataclass(frozen=True, slots=True)
class ToolRef:
    """What a flattened chat function name stands for on the Responses side."""

    name: str
    namespace: str | None = None
    kind: str = "function"  # "function" | "custom"


@dataclass(slots=True)
class ToolMap:
    """Flattened chat name <-> Responses tool identity, for one request."""

    by_flat: dict[str, ToolRef] = field(default_factory=dict)
    # inner name -> flattened names of namespaced tools, to repair calls a model un-prefixed
    namespaced_by_inner: dict[str, list[str]] = field(default_factory=dict)

    def add(self, ref: ToolRef) -> str:
        flat = flat_name(ref.name, ref.namespace)
        self.by_flat[flat] = ref
        if ref.namespace:
            self.namespaced_by_inner.setdefault(ref.name, []).append(flat)
        return flat

    def lookup(self, chat_name: str) -> ToolRef:
        """The Responses identity of a name the upstream called (unknown names pass through)."""
        return self.by_flat.get(self.flat_for(chat_name)) or ToolRef(name=chat_name)

    def flat_for(self, inner: str, flat: str | None = None) -> str:
        """``flat`` (default ``inner``) when a tool has that flat name, else the flat name of the
        one namespaced tool called ``inner`` (a model left the prefix off), else ``flat``."""
        flat = flat or inner
        if flat in self.by_flat:
            return flat
        candidates = self.namespaced_by_inner.get(inner, [])
        return candidates[0] if len(candidates) == 1 else flat


@dataclass(slots=True)
class ChatRequest:
    """A chat-completions body (no ``model``) and the tool map to read its answer with."""

    body: dict[str, Any]
    tools: ToolMap


def flat_name(name: str, namespace: str | None) -> str:
    """The chat function name of a (possibly namespaced) Responses tool."""
    return f"{namespace}{NAMESPACE_SEPARATOR}{name}" if namespace else name


def new_id(prefix: str) -> str:
    """A fresh Responses-style id such as ``msg_3f2a...``."""
    return prefix + "_" + os.urandom(12).hex()


# ---------------------------------------------------------------------------------------------
# Responses -> chat completions


def to_chat(request: dict[str, Any]) -> ChatRequest:
    """Translate a validated Responses request body into a chat-completions request."""
    tool_map = ToolMap()
    chat_tools = _tools(request.get("tools"), tool_map)
    messages: list[dict[str, Any]] = []
    instructions = request.get("instructions")
    if instructions:
        if not isinstance(instructions, str):
            raise TranslationError("instructions must be a string", "instructions")
        messages.append({"role": "system", "content": instructions})
    _messages(request.get("input"), tool_map, messages)

    body: dict[str, Any] = {"messages": messages}
    if chat_tools:
        body["tools"] = chat_tools
        choice = request.get("tool_choice")
        if choice is not None:
            body["tool_choice"] = _tool_choice(choice, tool_map)
        parallel = request.get("parallel_tool_calls")
        if isinstance(parallel, bool):
            body["parallel_tool_calls"] = parallel
    max_tokens = request.get("max_output_tokens")
    if max_tokens is not None:
        body["max_tokens"] = max_tokens
    for key in ("temperature", "top_p"):
        value = request.get(key)
        if value is not None:
            body[key] = value
    text = request.get("text")
    if isinstance(text, dict):
        response_format = _response_format(text.get("format"))
        if response_format is not None:
            body["response_format"] = response_format
    return ChatRequest(body=body, tools=tool_map)


def _tools(tools: Any, tool_map: ToolMap) -> list[dict[str, Any]]:
    if tools is None:
        return []
    if not isinstance(tools, list):
        raise TranslationError("tools must be a list", "tools")
    out: list[dict[str, Any]] = []
    for index, tool in enumerate(tools):
        where = f"tools[{index}]"
        if not isinstance(tool, dict):
            raise TranslationError(f"{where} must be an object", where)
        kind = tool.get("type")
        if kind == "function":
            out.append(_function_tool(tool, None, tool_map, where))
        elif kind == "custom":
            out.append(_custom_tool(tool, tool_map, where))
        elif kind == "namespace":
            namespace = _name(tool, where)
            inner = tool.get("tools")
            if not isinstance(inner, list):
                raise TranslationError(f"{where}.tools must be a list", f"{where}.tools")
            for j, sub in enumerate(inner):
                sub_where = f"{where}.tools[{j}]"
                if not isinstance(sub, dict) or sub.get("type") != "function":
                    raise TranslationError(
                        f"{sub_where} must be a function tool inside a namespace", sub_where
                    )
                out.append(_function_tool(sub, namespace, tool_map, sub_where))
        elif kind in DROPPED_TOOL_TYPES:
            continue
        else:
            raise TranslationError(
                f"{where}.type {kind!r} is not supported by the bridge "
                "(supported: function, custom, namespace; hosted tools are dropped)",
                f"{where}.type",
            )
    return out


def _name(tool: dict[str, Any], where: str) -> str:
    name = tool.get("name")
    if not isinstance(name, str) or not name:
        raise TranslationError(f"{where}.name must be a non-empty string", f"{where}.name")
    return name


def _function_tool(
    tool: dict[str, Any], namespace: str | None, tool_map: ToolMap, where: str
) -> dict[str, Any]:
    name = _name(tool, where)
    flat = tool_map.add(ToolRef(name=name, namespace=namespace))
    function: dict[str, Any] = {"name": flat}
    description = tool.get("description")
    if namespace:
        # The flattened name hides the grouping; say it so the model still sees it.
        description = f"[{namespace}] {description or ''}".rstrip()
    if description:
        function["description"] = description
    parameters = tool.get("parameters")
    function["parameters"] = (
        parameters if isinstance(parameters, dict) else {"type": "object", "properties": {}}
    )
    if tool.get("strict") is True:
        function["strict"] = True
    return {"type": "function", "function": function}


def _custom_tool(tool: dict[str, Any], tool_map: ToolMap, where: str) -> dict[str, Any]:
    name = _name(tool, where)
    flat = tool_map.add(ToolRef(name=name, kind="custom"))
    description = tool.get("description") or ""
    fmt = tool.get("format")
    input_description = "The raw input of the tool, as plain text."
    if isinstance(fmt, dict) and fmt.get("type") == "grammar":
        # The grammar is the only statement of the input's format: hand it to the model.
        input_description = (
            f"The raw input, which must match this {fmt.get('syntax', '')} grammar:\n"
            f"{fmt.get('definition', '')}"
        )
    return {
        "type": "function",
        "function": {
            "name": flat,
            "description": description,
            "parameters": {
                "type": "object",
                "properties": {
                    CUSTOM_INPUT_FIELD: {"type": "string", "description": input_description}
                },
                "required": [CUSTOM_INPUT_FIELD],
            },
        },
    }


def _tool_choice(choice: Any, tool_map: ToolMap) -> Any:
    if isinstance(choice, str):
        if choice in ("auto", "none", "required"):
            return choice
        raise TranslationError(
            f"tool_choice {choice!r} is not one of auto, none, required", "tool_choice"
        )
    if isinstance(choice, dict) and choice.get("type") in ("function", "custom"):
        name = choice.get("name")
        if not isinstance(name, str) or not name:
            raise TranslationError("tool_choice.name must be a non-empty string", "tool_choice")
        flat = tool_map.flat_for(name, flat_name(name, choice.get("namespace")))
        return {"type": "function", "function": {"name": flat}}
    if isinstance(choice, dict) and choice.get("type") == "allowed_tools":
        return choice.get("mode", "auto")
    raise TranslationError("tool_choice must be auto, none, required or a function", "tool_choice")


def _response_format(fmt: Any) -> dict[str, Any] | None:
    if fmt is None:
        return None
    if not isinstance(fmt, dict):
        raise TranslationError("text.format must be an object", "text.format")
    kind = fmt.get("type")
    if kind == "text":
        return None
    if kind == "json_object":
        return {"type": "json_object"}
    if kind == "json_schema":
        schema = fmt.get("schema")
        if not isinstance(schema, dict):
            raise TranslationError("text.format.schema must be an object", "text.format.schema")
        json_schema: dict[str, Any] = {"name": fmt.get("name") or "output", "schema": schema}
        if fmt.get("strict") is not None:
            json_schema["strict"] = fmt["strict"]
        if fmt.get("description"):
            json_schema["description"] = fmt["description"]
        return {"type": "json_schema", "json_schema": json_schema}
    raise TranslationError(f"text.format.type {kind!r} is not supported", "text.format.type")


def _messages(items: Any, tool_map: ToolMap, out: list[dict[str, Any]]) -> None:
    if isinstance(items, str):
        out.append({"role": "user", "content": items})
        return
    if not isinstance(items, list):
        raise TranslationError("input must be a string or a list of items", "input")
    pending_reasoning: str | None = None
    for index, item in enumerate(items):
        where = f"input[{index}]"
        kind = item.get("type", "message")
        if kind == "message":
            role = item.get("role")
            if role == "assistant":
                content = _text_of(item.get("content"), where)
                _assistant(out, pending_reasoning)["content"] = content
                pending_reasoning = None
            elif role in ("developer", "system"):
                text = _text_of(item.get("content"), where)
                last = out[-1] if out else None
                # Consecutive developer messages become one system message: several chat
                # templates accept only one system message at the start.
                if last is not None and last["role"] == "system" and isinstance(text, str):
                    last["content"] = f"{last['content']}\n\n{text}"
                else:
                    out.append({"role": "system", "content": text})
            elif role == "user":
                out.append({"role": "user", "content": _user_content(item.get("content"), where)})
            else:
                raise TranslationError(
                    f"{where}.role {role!r} is not one of user, assistant, system, developer",
                    f"{where}.role",
                )
        elif kind in ("function_call", "custom_tool_call"):
            call_id = item.get("call_id")
            name = item.get("name")
            if not isinstance(call_id, str) or not isinstance(name, str):
                raise TranslationError(
                    f"{where} ({kind}) needs string call_id and name", f"{where}.call_id"
                )
            if kind == "function_call":
                arguments = item.get("arguments", "")
                chat_name = _history_name(name, item.get("namespace"), tool_map)
            else:
                arguments = json.dumps({CUSTOM_INPUT_FIELD: item.get("input", "")})
                chat_name = name
            message = _assistant(out, pending_reasoning, for_tool_call=True)
            pending_reasoning = None
            message.setdefault("tool_calls", []).append(
                {
                    "id": call_id,
                    "type": "function",
                    "function": {"name": chat_name, "arguments": arguments},
                }
            )
        elif kind in ("function_call_output", "custom_tool_call_output"):
            call_id = item.get("call_id")
            if not isinstance(call_id, str):
                raise TranslationError(f"{where} ({kind}) needs a string call_id", where)
            out.append(
                {
                    "role": "tool",
                    "tool_call_id": call_id,
                    "content": _tool_output(item.get("output"), where),
                }
            )
        elif kind == "reasoning":
            pending_reasoning = _reasoning_text(item) or pending_reasoning
        elif kind == "item_reference":
            raise TranslationError(
                f"{where}: item_reference needs stored responses, which the bridge does not keep; "
                "send the full history instead",
                f"{where}.type",
            )
        else:
            raise TranslationError(f"{where}.type {kind!r} is not a supported input item", where)


def _history_name(name: str, namespace: Any, tool_map: ToolMap) -> str:
    if isinstance(namespace, str) and namespace:
        return flat_name(name, namespace)
    return tool_map.flat_for(name)


def _assistant(
    out: list[dict[str, Any]], reasoning: str | None, for_tool_call: bool = False
) -> dict[str, Any]:
    """The assistant message the next content or tool call belongs to."""
    last = out[-1] if out else None
    # Tool calls join the assistant message just before them (text then calls, one turn);
    # text never joins a message that already carries calls.
    if (
        last is not None
        and last["role"] == "assistant"
        and (for_tool_call or "tool_calls" not in last)
        and (reasoning is None or "reasoning_content" not in last)
    ):
        message = last
    else:
        message = {"role": "assistant", "content": None}
        out.append(message)
    if reasoning is not None:
        message["reasoning_content"] = reasoning
    return message


def _reasoning_text(item: dict[str, Any]) -> str | None:
    encrypted = item.get("encrypted_content")
    if isinstance(encrypted, str) and encrypted:
        return encrypted
    for key in ("content", "summary"):
        parts = item.get(key)
        if isinstance(parts, list):
            text = "".join(p.get("text", "") for p in parts if isinstance(p, dict))
            if text:
                return text
    return None


def _text_of(content: Any, where: str) -> str:
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        raise TranslationError(f"{where}.content must be a string or a list of parts", where)
    texts: list[str] = []
    for j, part in enumerate(content):
        kind = part.get("type") if isinstance(part, dict) else None
        if kind in _TEXT_PARTS:
            texts.append(part.get("text", ""))
        elif kind == "refusal":
            texts.append(part.get("refusal", ""))
        else:
            raise TranslationError(
                f"{where}.content[{j}].type {kind!r} is not a text part", f"{where}.content[{j}]"
            )
    return "\n".join(texts) if len(texts) > 1 else (texts[0] if texts else "")


def _user_content(content: Any, where: str) -> Any:
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        raise TranslationError(f"{where}.content must be a string or a list of parts", where)
    if all(isinstance(p, dict) and p.get("type") in _TEXT_PARTS for p in content):
        return _text_of(content, where)
    parts: list[dict[str, Any]] = []
    for j, part in enumerate(content):
        kind = part.get("type") if isinstance(part, dict) else None
        if kind in _TEXT_PARTS:
            parts.append({"type": "text", "text": part.get("text", "")})
        elif kind == "input_image":
            url = part.get("image_url")
            if not isinstance(url, str):
                raise TranslationError(
                    f"{where}.content[{j}]: only input_image with image_url is supported",
                    f"{where}.content[{j}].image_url",
                )
            parts.append({"type": "image_url", "image_url": {"url": url}})
        else:
            raise TranslationError(
                f"{where}.content[{j}].type {kind!r} is not supported by the bridge",
                f"{where}.content[{j}].type",
            )
    return parts


def _tool_output(output: Any, where: str) -> str:
    if isinstance(output, str):
        return output
    if isinstance(output, list):
        texts = []
        for part in output:
            kind = part.get("type") if isinstance(part, dict) else None
            if kind in _TEXT_PARTS:
                texts.append(part.get("text", ""))
            elif kind == "input_image":
                texts.append("[image omitted by the bridge]")
            else:
                texts.append(json.dumps(part))
        return "\n".join(texts)
    if output is None:
        raise TranslationError(f"{where}.output is missing", f"{where}.output")
    return json.dumps(output)


# ---------------------------------------------------------------------------------------------
# chat completions -> Responses


def output_items(
    content: str | None,
    reasoning_content: str | None,
    tool_calls: list[dict[str, Any]] | None,
    tool_map: ToolMap,
    *,
    phase: str | None = None,
) -> list[dict[str, Any]]:
    """Responses output items for one upstream answer: reasoning, message, then calls."""
    items: list[dict[str, Any]] = []
    if reasoning_content:
        items.append(reasoning_item(reasoning_content))
    if content:
        items.append(message_item(content, phase=phase))
    for call in tool_calls or []:
        items.append(call_item(call, tool_map))
    return items


def reasoning_item(reasoning_content: str) -> dict[str, Any]:
    """A reasoning item that carries the upstream's reasoning for the next turn."""
    return {
        "type": "reasoning",
        "id": new_id("rs"),
        "summary": [],
        "encrypted_content": reasoning_content,
    }


def message_item(text: str, *, phase: str | None = None, item_id: str | None = None) -> dict:
    """A completed assistant message item with one output_text part."""
    item: dict[str, Any] = {
        "type": "message",
        "id": item_id or new_id("msg"),
        "status": "completed",
        "role": "assistant",
        "content": [{"type": "output_text", "text": text, "annotations": []}],
    }
    if phase:
        item["phase"] = phase
    return item


def call_item(call: dict[str, Any], tool_map: ToolMap) -> dict[str, Any]:
    """A function_call or custom_tool_call item for one chat tool call."""
    function = call.get("function") or {}
    chat_name = function.get("name") or ""
    arguments = function.get("arguments")
    if not isinstance(arguments, str):
        arguments = json.dumps(arguments) if arguments is not None else ""
    call_id = call.get("id") or new_id("call")
    ref = tool_map.lookup(chat_name)
    if ref.kind == "custom":
        return {
            "type": "custom_tool_call",
            "id": new_id("ctc"),
            "status": "completed",
            "call_id": call_id,
            "name": ref.name,
            "input": _custom_input(arguments),
        }
    item: dict[str, Any] = {
        "type": "function_call",
        "id": new_id("fc"),
        "status": "completed",
        "call_id": call_id,
        "name": ref.name,
        "arguments": arguments,
    }
    if ref.namespace:
        item["namespace"] = ref.namespace
    return item


def _custom_input(arguments: str) -> str:
    """The raw input of a custom tool from the JSON arguments of its stand-in function."""
    try:
        parsed = loads_bounded(arguments)
    except ValueError:
        return arguments  # a model that answered the raw text directly (or absurd nesting)
    if isinstance(parsed, dict):
        value = parsed.get(CUSTOM_INPUT_FIELD)
        if isinstance(value, str):
            return value
        if len(parsed) == 1:
            only = next(iter(parsed.values()))
            if isinstance(only, str):
                return only
    return parsed if isinstance(parsed, str) else arguments
