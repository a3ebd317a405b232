"""Imgur albums in the sandbox (reference 1.6).

``POST /3/album`` creates one: with a Client-ID an anonymous album, whose images are
added by their ``deletehashes[]`` (``ids[]`` are ignored there: anonymous images are
known only by their deletehash); with a Bearer token an album of the account, taking
``ids[]`` of its own images or ``deletehashes[]``. Either list may also be one
comma-separated ``ids``/``deletehashes`` field (the old docs). The answer is
``data: {"id", "deletehash"}``.

``GET /3/album/{id}``, ``/3/album/{id}/images`` (not paged) and
``/3/album/{id}/image/{imageId}`` read it; ``PUT /3/album/{h}`` updates it (and replaces
its images when given), ``POST /3/album/{h}`` replaces its images, ``POST
/3/album/{h}/add`` adds, ``POST`` or ``DELETE /3/album/{h}/remove_images`` removes
``ids[]``, ``DELETE /3/album/{h}`` deletes it (its images stay). ``{h}`` is the album's
deletehash, or its id for the owner's Bearer token; otherwise 403 "Permission denied".
Changes answer the Basic model (``data: true``). An unknown album is Imgur's HTML 404.
An upload's ``album`` field adds the new image the same way (an album the uploader may not
change, or does not exist, is ignored: [GAP] no capture of that answer).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from uploader.sandbox.imgur_pages import not_found_page
from uploader.sandbox.imgur_shapes import StoredImage, envelope, image_model, legacy
from uploader.sandbox.multipart import Form
from uploader.sandbox.server import SandboxResponse

ALBUM = re.compile(r"/3/album/([A-Za-z0-9]+)(?:/(images|add|remove_images|image/([A-Za-z0-9]+)))?")
PRIVACY = ("public", "hidden", "secret")
LAYOUTS = ("blog", "grid", "horizontal", "vertical")  # deprecated, still accepted


@dataclass
class StoredAlbum:
    """One album; ``account`` is the owner's name (None: anonymous)."""

    id: str
    deletehash: str
    account: str | None
    account_id: int | None
    datetime: int
    title: str | None = None
    description: str | None = None
    privacy: str = "hidden"  # as the album seen live [OBS S12]
    layout: str = "blog"
    cover: str | None = None
    images: list[str] = field(default_factory=list)  # image ids, in album order


def listed(form: Form, name: str) -> list[str]:
    """``name[]`` values, or the comma-separated ``name`` field (reference 1.6)."""
    values = list(form.values.get(name + "[]", []))
    for text in form.values.get(name, []):
        values += [part.strip() for part in text.split(",")]
    return [value for value in values if value]


class ImgurAlbums:
    """The albums of one Imgur emulator; called with its lock held."""

    def __init__(
        self,
        images: dict[str, StoredImage],
        by_deletehash: dict[str, str],
        new_id: Callable[[int], str],
    ) -> None:
        self.images = images
        self.by_deletehash = by_deletehash
        self.new_id = new_id
        self.albums: dict[str, StoredAlbum] = {}
        self.by_album_deletehash: dict[str, str] = {}

    def _image_ids(self, form: Form, account: str | None) -> list[str]:
        """The images a form names that the caller may put in an album, in order."""
        chosen: list[str] = []
        for deletehash in listed(form, "deletehashes"):
            image_id = self.by_deletehash.get(deletehash)
            if image_id is not None and image_id not in chosen:
                chosen.append(image_id)
        if account is not None:  # ids[] only for an account's own images
            for image_id in listed(form, "ids"):
                image = self.images.get(image_id)
                if image is not None and image.account == account and image_id not in chosen:
                    chosen.append(image_id)
        return chosen

    def _settings(self, album: StoredAlbum, form: Form) -> None:
        fields = form.fields
        if "title" in fields:
            album.title = fields["title"]
        if "description" in fields:
            album.description = fields["description"]
        if fields.get("privacy") in PRIVACY:
            album.privacy = fields["privacy"]
        if fields.get("layout") in LAYOUTS:
            album.layout = fields["layout"]
        if fields.get("cover") in self.images:
            album.cover = fields["cover"]

    def create(self, form: Form, account: str | None, account_id: int | None, now: float) -> bytes:
        album = StoredAlbum(
            id=self.new_id(7),
            deletehash=self.new_id(15),
            account=account,
            account_id=account_id,
            datetime=int(now),
        )
        self._settings(album, form)
        album.images = self._image_ids(form, account)
        self.albums[album.id] = album
        self.by_album_deletehash[album.deletehash] = album.id
        return envelope({"id": album.id, "deletehash": album.deletehash})

    def changeable(self, ref: str, account: str | None) -> StoredAlbum | None:
        """The album ``ref`` names when the caller may change it: by its deletehash, or by
        its id with the owner's token."""
        album_id = self.by_album_deletehash.get(ref)
        if album_id is not None:
            return self.albums.get(album_id)
        album = self.albums.get(ref)
        if album is not None and account is not None and album.account == account:
            return album
        return None

    def add_upload(self, ref: str | None, image_id: str, account: str | None) -> None:
        """An upload's ``album`` field: the new image joins the album when allowed."""
        album = self.changeable(ref, account) if ref else None
        if album is not None and image_id not in album.images:
            album.images.append(image_id)

    def handle(
        self,
        method: str,
        route: str,
        form: Form,
        owner: tuple[str | None, int | None],
        now: float,
        origin: str,
    ) -> SandboxResponse | bytes:
        """Every ``/3/album`` route for the caller ``owner`` (account name and id; None:
        a Client-ID): bytes are a GET's 200 JSON body, for the caller to make conditional
        (ETag, 304); a response is final."""
        account = owner[0]
        if route == "/3/album":
            if method != "POST":
                return not_found_page()
            return SandboxResponse(200, self.create(form, account, owner[1], now))
        match = ALBUM.fullmatch(route)
        if match is None:
            return not_found_page()
        ref, what, image_ref = match.group(1), match.group(2), match.group(3)

        def model(image: StoredImage) -> dict[str, Any]:
            mine = account is not None and image.account == account
            return image_model(image, owner=mine, origin=origin)

        if method == "GET":
            album = self.albums.get(ref)
            if album is None:
                return not_found_page()
            images = [self.images[i] for i in album.images if i in self.images]
            if what == "images":
                return envelope([model(image) for image in images])
            if image_ref is not None:
                found = next((image for image in images if image.id == image_ref), None)
                return not_found_page() if found is None else envelope(model(found))
            if what is not None:
                return not_found_page()
            mine = account is not None and album.account == account
            link_base = f"{origin}/imgur" if origin else "https://imgur.com"
            return envelope(self._model(album, images, mine, model, link_base))
        if ref not in self.albums and ref not in self.by_album_deletehash:
            return not_found_page()
        album = self.changeable(ref, account)
        if album is None:
            return SandboxResponse(403, legacy("Permission denied", 403, route, method))
        if what is None and method == "DELETE":
            del self.albums[album.id]
            del self.by_album_deletehash[album.deletehash]
        elif what is None and method in ("PUT", "POST"):
            self._settings(album, form)
            if method == "POST" or listed(form, "ids") or listed(form, "deletehashes"):
                album.images = self._image_ids(form, account)  # replaces the set
        elif what == "add" and method == "POST":
            album.images += [i for i in self._image_ids(form, account) if i not in album.images]
        elif what == "remove_images" and method in ("POST", "DELETE"):
            gone = set(listed(form, "ids"))
            album.images = [i for i in album.images if i not in gone]
        else:
            return not_found_page()
        return SandboxResponse(200, envelope(True))

    @staticmethod
    def _model(
        album: StoredAlbum,
        images: list[StoredImage],
        owner: bool,
        model: Callable[[StoredImage], dict[str, Any]],
        link_base: str,
    ) -> Mapping[str, Any]:
        """The Album object as seen live [OBS S12]; ``deletehash`` for the owner only."""
        cover = album.cover if album.cover in album.images else None
        cover = cover or (images[0].id if images else None)
        first = next((image for image in images if image.id == cover), None)
        data: dict[str, Any] = {
            "id": album.id,
            "title": album.title,
            "description": album.description,
            "datetime": album.datetime,
            "cover": cover,
            "cover_edited": None,
            "cover_width": first.width if first else None,
            "cover_height": first.height if first else None,
            "account_url": album.account,
            "account_id": album.account_id,
            "privacy": album.privacy,
            "layout": album.layout,
            "views": 0,
            "link": f"{link_base}/a/{album.id}",
            "favorite": False,
            "nsfw": None,
            "section": None,
            "images_count": len(images),
            "in_gallery": False,
            "is_ad": False,
            "include_album_ads": False,
            "is_album": True,
            "images": [model(image) for image in images],
        }
        if owner:
            data["deletehash"] = album.deletehash
        return data
