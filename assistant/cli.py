"""The `assistant` command: ingest, search, settings (and ask, serve, eval).

Human output by default, `--json` for scripts. Exit codes: 0 ok, 1 the work
ran but something failed (a file could not be read), 2 a usage, settings or
service error (nothing was changed). Every error of the project's hierarchy
(`assistant/core/errors.py`) is printed as `Feil: <user_message>` on stderr, or
`{"error": ..., "type": ...}` on stdout with --json, and exits with 2: never a
traceback.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import textwrap
from collections.abc import Callable

import assistant.core.environment  # noqa: E402,F401  (before any third-party import)
from pydantic import ValidationError  # noqa: E402

from assistant.core.errors import run_reported  # noqa: E402
from assistant.core.i18n import LANGUAGES  # noqa: E402
from assistant.core.records import REFLECTION_STAGES  # noqa: E402
from assistant.core.settings import Settings, invalid_settings, load_settings  # noqa: E402
from evals.cli import add_eval_parser, run_eval_command  # noqa: E402
from ingest.cli import add_ingest_parser, run_ingest_command  # noqa: E402

EXIT_OK, EXIT_FAILED, EXIT_ERROR = 0, 1, 2


def _print_json(data: object) -> None:
    sys.stdout.write(json.dumps(data, ensure_ascii=False, indent=2, default=str) + "\n")


# --- settings -----------------------------------------------------------------
def cmd_settings(args: argparse.Namespace, settings: Settings) -> int:
    view = settings.public_view()
    if args.json:
        _print_json(view)
        return EXIT_OK
    width = max(len(k) for k in view)
    for key, value in view.items():
        print(f"{key.ljust(width)}  {value}")
    print("\nSett verdier med miljøvariabler ASSISTANT_<NAVN> eller i en .env-fil.")
    return EXIT_OK


# --- db -----------------------------------------------------------------------
def cmd_db(args: argparse.Namespace, settings: Settings) -> int:
    """The journal's schema: which version the database has (`current`), or bring it to the newest
    (`upgrade`; the app also does it when it starts, so this is for a deployment's own step)."""
    from assistant.app.database import Database

    database = Database(settings.resolved_database_url)
    try:
        before = database.current_revision()
        if args.action == "upgrade":
            database.upgrade()
        after = database.current_revision()
    finally:
        database.dispose()
    if args.json:
        _print_json({"database": database.where, "revision": after, "before": before})
    elif args.action == "upgrade":
        print(f"{database.where}: skjemaversjon {before or 'ingen'} -> {after}")
    else:
        print(f"{database.where}: skjemaversjon {after or 'ingen (tom database)'}")
    return EXIT_OK


# --- search -------------------------------------------------------------------
def cmd_search(args: argparse.Namespace, settings: Settings) -> int:
    from assistant.core.runtime import Runtime

    rt = Runtime.from_settings(settings)
    kinds = tuple(args.kind or ())
    hits = rt.retriever.search(args.query, k=args.k, kinds=kinds, mode=args.mode)
    if args.json:
        _print_json(
            {
                "query": args.query,
                "hits": [
                    {
                        "rank": h.rank,
                        "score": round(h.score, 6),
                        "dense": None if h.dense is None else round(h.dense, 4),
                        "lexical": None if h.lexical is None else round(h.lexical, 4),
                        "id": h.chunk.id,
                        "source": h.chunk.meta.source,
                        "title": h.chunk.meta.title,
                        "kind": h.chunk.meta.kind,
                        "provenance": h.chunk.provenance,
                        "page": h.chunk.page,
                        "slide": h.chunk.slide,
                        "section": h.chunk.section,
                        "text": h.chunk.text,
                    }
                    for h in hits
                ],
            }
        )
        return EXIT_OK
    if not hits:
        print("Fant ingenting relevant i materialet for dette spørsmålet.")
        return EXIT_OK
    for h in hits:
        where = h.chunk.locator() or "—"
        dense = "" if h.dense is None else f" likhet {h.dense:.3f}"
        print(f"{h.rank}. {h.chunk.meta.title}  [{h.chunk.meta.kind}, {h.chunk.provenance}] {where}")
        print(f"   {h.chunk.meta.source}  (score {h.score:.4f}{dense})")
        snippet = " ".join(h.chunk.text.split())
        print(textwrap.indent(textwrap.fill(snippet[:320] + ("…" if len(snippet) > 320 else ""), 96), "   "))
    return EXIT_OK


# --- ask ----------------------------------------------------------------------
def cmd_ask(args: argparse.Namespace, settings: Settings) -> int:
    from assistant.core.runtime import Runtime
    from assistant.core.safety import clean_user_text

    overrides = {
        key: value
        for key, value in {
            "llm_backend": args.backend,
            "llm_model": args.model,
            "llm_base_url": args.base_url,
            "llm_gguf_path": args.gguf,
        }.items()
        if value is not None
    }
    if overrides:
        try:
            settings = Settings.model_validate({**settings.model_dump(), **overrides})
        except ValidationError as exc:
            raise invalid_settings(exc) from None
    question = clean_user_text(args.question)  # InputRejected, LLMError and the rest: reported by main()
    rt = Runtime.from_settings(settings)
    engine = rt.engine  # LLMError (a backend that cannot be built): reported by main()
    kinds = tuple(args.kind or ())
    # A model's answer is checked before anything of it is shown, so the whole answer comes at once.
    answer = engine.answer(question, mode=args.mode, kinds=kinds, stage=args.stage)
    if args.json:
        _print_json(answer.model_dump(mode="json"))
    elif answer.error:
        print(f"Feil: {answer.error}", file=sys.stderr)
    else:
        print(answer.text)
    return EXIT_ERROR if answer.error else EXIT_OK


# --- serve and users -------------------------------------------------------------
def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    from assistant.web.ui import serve

    updates = {k: v for k, v in {"host": args.host, "port": args.port, "language": args.language}.items() if v}
    if updates:
        settings = settings.model_copy(update=updates)
    mode = "innlogging påkrevd" if (settings.users_file or settings.users) else "lokal modus, én bruker uten innlogging"
    print(f"Starter på http://{settings.host}:{settings.port}  ({mode}). Stopp med Ctrl+C.", file=sys.stderr)
    serve(settings)  # ServeRefused: reported by main()
    return EXIT_OK


def cmd_user(args: argparse.Namespace, settings: Settings) -> int:
    """Add or change a user; with --api-key, also make them an API key (printed once, stored hashed).
    --api-key for a user who is already in the file leaves their password and role as they are."""
    import getpass
    import json as json_module
    from pathlib import Path

    from assistant.app.api_keys import add_api_key, list_api_keys, revoke_api_key
    from assistant.app.auth import add_user

    path = Path(args.file) if args.file else (settings.users_file or settings.data_dir / "users.json")
    if args.keys or args.revoke_key:
        # The user's keys, or one of them revoked: the password and role are not touched.
        if args.revoke_key:
            revoke_api_key(path, args.name, args.revoke_key)  # AuthError: reported by main()
        keys = list_api_keys(path, args.name)
        if args.json:
            _print_json({"user": args.name, "users_file": str(path), "api_keys": keys,
                         **({"revoked": args.revoke_key} if args.revoke_key else {})})
        else:
            if args.revoke_key:
                print(f"Trakk tilbake nøkkelen {args.revoke_key} for {args.name}; den virker ikke lenger.")
            print(f"API-nøkler for {args.name}: " + (", ".join(f"{k['id']} (laget {k['created']})" for k in keys) or "ingen"))
        return EXIT_OK
    existing = json_module.loads(path.read_text(encoding="utf-8")).get("users", {}) if path.exists() else {}
    keep = args.api_key and args.name in existing
    role = (None if keep else args.role) or existing.get(args.name, {}).get("role") or "participant"
    if not keep:
        password = os.environ.get("ASSISTANT_NEW_PASSWORD") or getpass.getpass(f"Passord for {args.name}: ")
        add_user(path, args.name, role, password)  # AuthError: reported by main()
    key = add_api_key(path, args.name) if args.api_key else None
    if args.json:
        _print_json({"user": args.name, "role": role, "users_file": str(path), **({"api_key": key} if key else {})})
    else:
        print(f"Lagret {args.name} ({role}) i {path}. Start med ASSISTANT_USERS_FILE={path} assistant serve")
        if key:
            print(f"API-nøkkel (vises bare nå; bare en hash er lagret): {key}")
            print(f"Bruk: Authorization: Bearer {key}")
    return EXIT_OK


# --- parser -------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="assistant",
        description=(
            "Refleksjonsassistent for Bærekraftig strategisk byledelse. "
            "Indekser programmaterialet, søk i det, still spørsmål og start chatten."
        ),
        epilog="Innstillinger: ASSISTANT_*-miljøvariabler eller .env (se `assistant settings`).",
    )
    sub = parser.add_subparsers(dest="command", metavar="KOMMANDO")

    def add(name: str, help_text: str, description: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_text, description=description)
        p.add_argument("--json", action="store_true", help="skriv maskinlesbar JSON til stdout")
        return p

    add("settings", "vis gjeldende innstillinger", "Vis innstillingene som gjelder, med hemmeligheter maskert.")

    add_ingest_parser(sub)

    p = add("db", "dagbokens database: skjemaversjon og oppgradering",
            "Vis hvilken skjemaversjon dagbokens database har (current), eller oppgrader den til den nyeste "
            "(upgrade; appen gjør det også når den starter). Databasen er ASSISTANT_DATABASE_URL, ellers "
            "SQLite-filen i datamappen.")
    p.add_argument("action", choices=["current", "upgrade"], help="current: vis versjonen; upgrade: oppgrader")

    p = add("search", "søk i materialet", "Hybrid søk (semantisk + nøkkelord) i det indekserte materialet.")
    p.add_argument("query", help="spørsmålet eller søkeordene, på bokmål eller engelsk")
    p.add_argument("--k", type=int, default=None, help="antall treff (standard: ASSISTANT_TOP_K)")
    p.add_argument("--kind", action="append", help="bare denne dokumenttypen (kan gjentas): programme, leadership, question")
    p.add_argument("--mode", choices=["hybrid", "dense", "lexical"], default="hybrid", help="søkemetode")

    p = add(
        "ask",
        "still et spørsmål og få et kildebelagt svar",
        "Svar fra materialet med nummererte kilder. Finnes ikke svaret i materialet, sier assistenten det "
        "(uten å spørre en språkmodell). Standard er uttrekk uten språkmodell; --backend openai bruker en "
        "OpenAI-kompatibel tjener (vLLM, Ollama, llama.cpp server).",
    )
    p.add_argument("question", help="spørsmålet, på bokmål eller engelsk")
    p.add_argument("--mode", choices=["qa", "reflect"], default="qa", help="qa: direkte svar; reflect: veiledet refleksjon")
    p.add_argument("--stage", choices=list(REFLECTION_STAGES), help="refleksjonsfase (med --mode reflect)")
    p.add_argument("--kind", action="append", help="bare denne dokumenttypen (kan gjentas)")
    p.add_argument("--backend", choices=["extractive", "openai", "llamacpp"], help="overstyr ASSISTANT_LLM_BACKEND")
    p.add_argument("--model", help="overstyr ASSISTANT_LLM_MODEL")
    p.add_argument("--base-url", help="overstyr ASSISTANT_LLM_BASE_URL")
    p.add_argument("--gguf", help="overstyr ASSISTANT_LLM_GGUF_PATH")

    p = add(
        "serve",
        "start chatten i nettleseren",
        "Start appen (Gradio) lokalt. Uten brukerfil kjører den i lokal modus for én bruker; med "
        "ASSISTANT_USERS_FILE krever alle sider innlogging.",
    )
    p.add_argument("--host", help="adresse (standard 127.0.0.1)")
    p.add_argument("--port", type=int, help="port (standard 7860)")
    p.add_argument("--language", choices=list(LANGUAGES), help="språk i grensesnittet ved start")

    add_eval_parser(sub)

    p = add("user", "legg til eller endre en bruker", "Legg til en bruker med rolle i brukerfilen (passordet lagres som hash).")
    p.add_argument("name", help="brukernavn")
    p.add_argument("--role", choices=["participant", "facilitator"], help="rolle (standard: som før, ellers participant)")
    p.add_argument("--file", help="brukerfil (standard ASSISTANT_USERS_FILE eller <data_dir>/users.json)")
    keys = p.add_mutually_exclusive_group()
    keys.add_argument("--api-key", action="store_true",
                      help="lag også en API-nøkkel for /v1 (vises én gang; finnes brukeren, endres ikke passord eller rolle)")
    keys.add_argument("--keys", action="store_true", help="vis brukerens API-nøkler (id og når de ble laget); endrer ingenting")
    keys.add_argument("--revoke-key", metavar="ID",
                      help="trekk tilbake en API-nøkkel (id-en fra --keys, eller hele nøkkelen); virker fra neste forespørsel")
    return parser


COMMANDS: dict[str, Callable[[argparse.Namespace, Settings], int]] = {
    "settings": cmd_settings,
    "db": cmd_db,
    "ingest": run_ingest_command,
    "search": cmd_search,
    "ask": cmd_ask,
    "serve": cmd_serve,
    "user": cmd_user,
    "eval": run_eval_command,
}


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not args.command:
        parser.print_help()
        return EXIT_ERROR
    return run_reported(lambda: COMMANDS[args.command](args, load_settings()), as_json=getattr(args, "json", False))


if __name__ == "__main__":
    raise SystemExit(main())
