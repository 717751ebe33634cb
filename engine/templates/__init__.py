"""WhatsApp message templates kept as files and synced to the Graph API (`flowbot templates`).

A template is one file, templates/whatsapp/<name>.yaml, holding every language
(schemas/template.schema.json):

    name: haraka_parcel_update      # the base name, the same as the file's name
    version: 1                      # optional, default 1
    category: utility               # utility | marketing | authentication
    languages:
      en: {body: "Your parcel {{1}} is now: {{2}}.", examples: [HD-1236, out for delivery]}

Naming and versions. WhatsApp knows the template as `<name>_v<version>` (haraka_parcel_update_v1),
and that is the name a bot's manifest uses (`templates: {parcel_update: {name:
haraka_parcel_update_v1}}`). The file holds the base name and the tool adds the suffix, because
WhatsApp cannot change an approved template's category: when it refuses, `apply` creates the
next version, `<name>_v2`, in every language, and prints that the manifests must now name it
and that the file's `version:` should say 2. The old version stays on WhatsApp (flows still
sending it keep working) until someone deletes it. The version is in the file, not only on
WhatsApp, so a fresh account (staging) gets the same name as production.

Modules: `files` (read and check the files, build Graph bodies), `graph` (the Graph calls),
`sync` (list, apply, delete), `references` (every template a manifest names exists here),
`command` (the CLI glue).
"""
