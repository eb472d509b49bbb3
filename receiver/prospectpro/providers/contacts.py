"""Contact details a web page publishes: emails, phone numbers and social profiles.

The page is read with the standard library's HTML parser, so entities are decoded and
scripts, styles, templates and comments (which a visitor does not see) are left out.  Emails
come from mailto: links, Cloudflare's email protection, and the visible text, where the
common "name [at] domain [dot] com" spelling is undone; phone numbers from tel: links.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from html.parser import HTMLParser
from urllib.parse import unquote, urljoin, urlsplit

# Hosts of the social networks worth recording, by the name recorded.
SOCIAL_NETWORKS = {
    "facebook.com": "facebook",
    "fb.com": "facebook",
    "instagram.com": "instagram",
    "linkedin.com": "linkedin",
    "twitter.com": "twitter",
    "x.com": "twitter",
    "yelp.com": "yelp",
    "youtube.com": "youtube",
    "tiktok.com": "tiktok",
}
# First path segments of buttons that share the page rather than link the business's profile.
SHARE_SEGMENTS = {"sharer", "sharer.php", "share", "sharearticle", "intent", "dialog", "plugins"}
HIDDEN_TAGS = {"script", "style", "template"}
# Elements that separate words: their text must not run into the next element's.
BLOCK_TAGS = {
    "address", "article", "aside", "blockquote", "br", "dd", "div", "dl", "dt", "footer",
    "form", "h1", "h2", "h3", "h4", "h5", "h6", "header", "hr", "li", "main", "nav", "ol",
    "option", "p", "pre", "section", "table", "td", "th", "title", "tr", "ul",
}  # fmt: skip
CLOUDFLARE_PROTECTION = "/cdn-cgi/l/email-protection#"
# "logo@2x.png" looks like an email address and is an image.
FILE_SUFFIXES = {"png", "jpg", "jpeg", "gif", "svg", "webp", "ico", "css", "js"}

EMAIL = r"[a-z0-9][a-z0-9._%+-]*@(?:[a-z0-9](?:[a-z0-9-]*[a-z0-9])?\.)+[a-z]{2,63}"
EMAIL_RE = re.compile(EMAIL, re.IGNORECASE)
EMAIL_IN_TEXT_RE = re.compile(rf"(?<![a-z0-9._%+-]){EMAIL}(?![a-z0-9-])", re.IGNORECASE)
SPELLED_AT_RE = re.compile(r"\s*[\[({<]\s*at\s*[\])}>]\s*", re.IGNORECASE)
SPELLED_DOT_RE = re.compile(r"\s*[\[({<]\s*dot\s*[\])}>]\s*", re.IGNORECASE)


@dataclass
class PageContacts:
    emails: list[str] = field(default_factory=list)
    phones: list[str] = field(default_factory=list)
    social_links: dict[str, str] = field(default_factory=dict)


def extract_contacts(html: str, page_url: str) -> PageContacts:
    """The contacts published on a page, each once: addresses in links first, in page order,
    then those in the text."""
    parser = _ContactParser(page_url)
    parser.feed(html)
    parser.close()
    text = "".join(parser.text)
    text = SPELLED_DOT_RE.sub(".", SPELLED_AT_RE.sub("@", text))
    found = parser.found
    for email in EMAIL_IN_TEXT_RE.findall(text):
        _add_email(found, email)
    return found


class _ContactParser(HTMLParser):
    def __init__(self, page_url: str) -> None:
        super().__init__(convert_charrefs=True)
        self.page_url = page_url
        self.found = PageContacts()
        self.text: list[str] = []
        self._hidden_depth = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in HIDDEN_TAGS:
            self._hidden_depth += 1
        if self._hidden_depth:
            return
        if tag in BLOCK_TAGS:
            self.text.append(" ")
        values = {name: value for name, value in attrs if value}
        if "data-cfemail" in values:
            _add_email(self.found, _cloudflare_decode(values["data-cfemail"]))
        if tag in ("a", "area") and "href" in values:
            self._link(values["href"].strip())

    def handle_endtag(self, tag: str) -> None:
        if tag in HIDDEN_TAGS:
            self._hidden_depth = max(0, self._hidden_depth - 1)
        elif tag in BLOCK_TAGS:
            self.text.append(" ")

    def handle_data(self, data: str) -> None:
        if not self._hidden_depth:
            self.text.append(data)

    def _link(self, href: str) -> None:
        scheme, _, rest = href.partition(":")
        match scheme.lower():
            case "mailto":
                for address in unquote(rest.partition("?")[0]).split(","):
                    _add_email(self.found, address)
            case "tel":
                _add_phone(self.found, unquote(rest))
            case _:
                url = urljoin(self.page_url, href)
                if CLOUDFLARE_PROTECTION in url:
                    _add_email(self.found, _cloudflare_decode(url.partition("#")[2]))
                else:
                    _add_social(self.found, url)


def _add_email(found: PageContacts, candidate: str) -> None:
    email = candidate.strip().lower()
    local, _, domain = email.partition("@")
    if (
        EMAIL_RE.fullmatch(email)
        and not local.endswith(".")
        and ".." not in local
        and domain.rpartition(".")[2] not in FILE_SUFFIXES
        and email not in found.emails
    ):
        found.emails.append(email)


def _add_phone(found: PageContacts, number: str) -> None:
    number = number.partition(";")[0].strip()  # drop ";ext=" and other parameters
    digits = re.sub(r"\D", "", number)
    phone = ("+" if number.startswith("+") else "") + digits
    if 7 <= len(digits) <= 15 and phone not in found.phones:
        found.phones.append(phone)


def _add_social(found: PageContacts, url: str) -> None:
    parts = urlsplit(url)
    network = social_network(parts.hostname or "")
    first_segment = parts.path.strip("/").partition("/")[0].lower()
    if (
        network
        and parts.scheme in ("http", "https")
        and first_segment
        and first_segment not in SHARE_SEGMENTS
    ):
        found.social_links.setdefault(network, url)


def social_network(host: str) -> str | None:
    """The social network a host belongs to (www.facebook.com: facebook), if any."""
    host = host.lower()
    for domain, network in SOCIAL_NETWORKS.items():
        if host == domain or host.endswith(f".{domain}"):
            return network
    return None


def _cloudflare_decode(encoded: str) -> str:
    """Cloudflare's email protection: the first hex byte is a key XORed into the others."""
    try:
        key, *chars = bytes.fromhex(encoded)
    except ValueError:
        return ""
    return "".join(chr(char ^ key) for char in chars)
