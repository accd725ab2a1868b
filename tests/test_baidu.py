"""The Baidu face, driven by the real ``baidu-aip`` SDK pointed at the loopback server."""

from __future__ import annotations

import base64
import subprocess
import sys
import uuid
from datetime import UTC, timedelta
from pathlib import Path

import httpx
import numpy as np
import pytest
from aip import AipImageSearch

from conftest import ImageServer, ServerProcess, encode, noise_image, sample, server_env

ORIG = "https://aip.baidubce.com"

# SDK method-name stems per library, and the engine kind behind them.
STEMS = {"same": "sameHq", "similar": "similar", "product": "product",
         "picturebook": "pictureBook", "fabric": "materiel"}


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)


def register_key(server: ServerProcess, model_cache: Path, ak: str, sk: str) -> None:
    """Keys are managed with the real CLI, on the running server's data directory."""
    r = subprocess.run([sys.executable, "-m", "tusou.cli", "keys", "add", "--api-key", ak,
                        "--secret-key", sk, "--data-dir", str(server.data_dir)],
                       env=server_env(model_cache), capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr


def remove_key(server: ServerProcess, model_cache: Path, ak: str) -> None:
    subprocess.run([sys.executable, "-m", "tusou.cli", "keys", "remove", ak, "--data-dir",
                    str(server.data_dir)], env=server_env(model_cache), check=True,
                   capture_output=True, timeout=120)


def baidu_client(base: str, ak: str, sk: str, app_id: str = "appid-1") -> AipImageSearch:
    c = AipImageSearch(app_id, ak, sk)
    for name, val in vars(AipImageSearch).items():
        if name.startswith("_AipImageSearch__") and isinstance(val, str) and val.startswith(ORIG):
            setattr(c, name, base + val[len(ORIG):])
    c._AipBase__accessTokenUrl = base + "/oauth/2.0/token"
    c._AipBase__reportUrl = base + "/rpc/2.0/feedback/v1/report"
    return c


@pytest.fixture
def app_key(server: ServerProcess, model_cache: Path) -> tuple[str, str]:
    """A fresh app (so a fresh set of five libraries) per test."""
    ak, sk = f"ak-{uuid.uuid4().hex[:12]}", uuid.uuid4().hex
    register_key(server, model_cache, ak, sk)
    return ak, sk


@pytest.fixture
def sdk(server: ServerProcess, app_key: tuple[str, str]) -> AipImageSearch:
    return baidu_client(server.url, *app_key)


def jpeg(pixels: np.ndarray) -> bytes:
    return encode(pixels, "JPEG", quality=92)


def big(seed: int) -> bytes:
    """Large enough for every kind (product needs a 300 px short side)."""
    return jpeg(noise_image(seed, 420, 360))


def call(sdk: AipImageSearch, kind: str, op: str, *args: object) -> dict:
    names = {("picturebook", "add"): "pictureBookAddImage",
             ("picturebook", "search"): "pictureBookSearchImage"}
    return getattr(sdk, names.get((kind, op), STEMS[kind] + op[0].upper() + op[1:]))(*args)


# --- every SDK method, every library ------------------------------------------------------


@pytest.mark.parametrize("kind", list(STEMS))
def test_every_sdk_method(sdk: AipImageSearch, kind: str, image_server: ImageServer) -> None:
    labels = ({"class_id1": 3, "class_id2": 4} if kind == "product" else {"tags": "100,11"})
    a, b, c = big(1000), big(1001), big(1002)
    added = call(sdk, kind, "add", a, "first", labels)
    assert set(added) == {"log_id", "cont_sign"}, added
    sign_a = added["cont_sign"]
    url_b = image_server.put(f"/{kind}-b.jpg", b, "image/jpeg")
    sign_b = call(sdk, kind, "addUrl", url_b, "second", labels)["cont_sign"]
    sign_c = call(sdk, kind, "add", c, "third", {})["cont_sign"]
    assert len({sign_a, sign_b, sign_c}) == 3

    dup = call(sdk, kind, "add", a, "again", {})
    assert (dup["error_code"], dup["error_msg"], dup["cont_sign"]) == (216681, "item has existed",
                                                                       sign_a)

    found = call(sdk, kind, "search", a, {})
    assert found["result"][0] == {"score": 1.0, "brief": "first", "cont_sign": sign_a}, found
    assert found["result_num"] == len(found["result"]) and found["has_more"] is False
    found = call(sdk, kind, "searchUrl", url_b, {"pn": "0", "rn": "1"})
    assert found["result"][0]["cont_sign"] == sign_b and found["result_num"] == 1
    if kind in ("similar", "product", "fabric"):
        assert found["has_more"] is True  # everything is ranked
    if kind == "product":
        filtered = call(sdk, kind, "search", c, {"class_id1": "3"})
    else:
        filtered = call(sdk, kind, "search", c, {"tags": "100", "tag_logic": "0"})
    assert sign_c not in {r["cont_sign"] for r in filtered["result"]}

    # update by image, by URL and by cont_sign
    if kind == "fabric":
        assert "error_code" not in sdk.materielUpdate(a, "first*", {})
        assert "error_code" not in sdk.materielUpdateUrl(url_b, "second*", {})
        assert "error_code" not in sdk.materielUpdateContSign(sign_c, {"brief": "third*"})
    else:
        assert "error_code" not in call(sdk, kind, "update", a, {"brief": "first*"})
        assert "error_code" not in call(sdk, kind, "updateUrl", url_b, {"brief": "second*"})
        assert "error_code" not in call(sdk, kind, "updateContSign", sign_c, {"brief": "third*"})
    briefs = {r["cont_sign"]: r["brief"] for r in call(sdk, kind, "search", a, {})["result"]}
    assert briefs[sign_a] == "first*"

    # delete by image, by URL, by one and by several cont_signs
    assert set(call(sdk, kind, "deleteByImage", a, {})) == {"log_id"}
    assert set(call(sdk, kind, "deleteByUrl", url_b, {})) == {"log_id"}
    assert set(call(sdk, kind, "deleteBySign", sign_c, {})) == {"log_id"}
    assert set(call(sdk, kind, "deleteBySign", "1,2;3,4", {})) == {"log_id"}
    left = call(sdk, kind, "search", a, {})
    assert left["result"] == [] and left["result_num"] == 0


def test_search_paging_and_tag_logic(sdk: AipImageSearch) -> None:
    signs = {}
    for i, tags in enumerate(["1", "1,2", "2", "3"]):
        signs[tags] = sdk.similarAdd(jpeg(noise_image(1100 + i)), f"t{tags}",
                                     {"tags": tags})["cont_sign"]
    q = jpeg(noise_image(1100))

    def briefs(options: dict) -> set[str]:
        return {r["brief"] for r in sdk.similarSearch(q, options)["result"]}

    assert briefs({"tags": "1,2", "tag_logic": "0"}) == {"t1,2"}
    assert briefs({"tags": "1,2", "tag_logic": "1"}) == {"t1", "t1,2", "t2"}
    page = sdk.similarSearch(q, {"pn": "1", "rn": "2"})
    assert page["result_num"] == 2 and page["has_more"] is True
    assert sdk.similarSearch(q, {"pn": "2", "rn": "2"})["has_more"] is False
    assert sdk.similarSearch(q, {"pn": "999", "rn": "1000"})["result_num"] == 0


def test_same_hq_only_returns_copies(sdk: AipImageSearch) -> None:
    sign = sdk.sameHqAdd(jpeg(sample("astronaut")), "astronaut", {})["cont_sign"]
    sdk.sameHqAdd(jpeg(sample("coffee")), "coffee", {})
    crop = sample("astronaut")[64:448, 64:448]
    hits = sdk.sameHqSearch(jpeg(crop), {})["result"]
    assert [h["cont_sign"] for h in hits] == [sign]
    assert sdk.sameHqSearch(jpeg(sample("chelsea")), {})["result"] == []


# --- errors --------------------------------------------------------------------------------


def test_error_codes(sdk: AipImageSearch, server: ServerProcess,
                     image_server: ImageServer) -> None:
    ok = big(1200)
    tiny = jpeg(noise_image(1201, 40, 40))
    gif = encode(noise_image(1202), "GIF")
    cases = [
        (sdk.similarAdd(ok, "b" * 257, {}), 216103),
        (sdk._request(sdk._AipImageSearch__similarAddUrl, {"image": base64.b64encode(ok).decode()}),
         216101),
        (sdk.similarAdd(b"", "x", {}), 216200),
        (sdk._request(sdk._AipImageSearch__similarAddUrl, {"image": "%%%notbase64", "brief": "x"}),
         216203),
        (sdk.similarAdd(b"just some text, no picture", "x", {}), 216201),
        (sdk.similarAdd(gif, "x", {}), 216201),
        (sdk.similarAdd(tiny, "x", {}), 216202),
        (sdk.productAdd(big(1203), "x", {"class_id1": "0"}), 216100),
        (sdk.similarAdd(ok, "x", {"tags": "1,2,3"}), 216100),
        (sdk.similarAdd(ok, "x", {"tags": "70000"}), 216100),
        (sdk.similarSearch(ok, {"tag_logic": "2"}), 216100),
        (sdk.similarSearch(ok, {"rn": "1001"}), 216100),
        (sdk.similarSearch(ok, {"pn": "-1"}), 216100),
        (sdk.similarUpdateContSign("not-a-sign", {"brief": "x"}), 216100),
        (sdk.similarUpdateContSign("1,2", {"brief": "x"}), 216100),
        (sdk.similarDeleteBySign(";".join(f"{i},{i}" for i in range(1001)), {}), 216100),
        (sdk.pictureBookDeleteBySign(";".join(f"{i},{i}" for i in range(101)), {}), 216100),
        (sdk.similarAddUrl("http://10.1.2.3/a.jpg", "x", {}), 282113),
        (sdk.similarAddUrl("http://a/" + "x" * 1100, "x", {}), 216103),
        (sdk.similarSearch(b"", {}), 216200),
        (sdk._request(sdk._AipImageSearch__similarSearchUrl, {}), 216101),
    ]
    for i, (answer, code) in enumerate(cases):
        assert answer.get("error_code") == code, (i, answer)
        assert isinstance(answer["log_id"], int) and answer["error_msg"]
    assert cases[1][0]["error_msg"] == "param brief not exist"
    assert cases[-1][0]["error_msg"] == "param image not exist"
    # Limits at their edges pass.
    assert "cont_sign" in sdk.similarAdd(ok, "b" * 256, {"tags": "1,65535"})
    assert "error_code" not in sdk.similarDeleteBySign(";".join(f"{i},{i}" for i in range(1000)),
                                                       {})
    assert "error_code" not in sdk.pictureBookDeleteBySign(
        ";".join(f"{i},{i}" for i in range(100)), {})
    # Nothing the errors touched was stored.
    assert sdk.similarSearch(ok, {})["result_num"] == 1


def test_base64_limit(sdk: AipImageSearch) -> None:
    # Random bytes: the base64 is full of '+' and '/', which travel percent-encoded, so the
    # form field on the wire is longer than the 4 MiB the limit counts.
    png = encode(noise_image(1300, 256, 256))
    exact = png + np.random.default_rng(1).bytes(3 * 1024 * 1024 - len(png))
    assert len(base64.b64encode(exact)) == 4 * 1024 * 1024
    assert "cont_sign" in sdk.similarAdd(exact, "edge", {})
    assert sdk.similarAdd(exact + b"\0\0\0", "over", {})["error_code"] == 216202


def test_oversized_body_in_baidu_shape(server: ServerProcess, sdk: AipImageSearch) -> None:
    sdk.similarSearch(big(1310), {})  # fetch a token
    token = sdk._authObj["access_token"]
    url = f"{server.url}/rest/2.0/image-classify/v1/realtime_search/similar/add"
    r = httpx.post(f"{url}?access_token={token}", content=b"image=" + b"A" * (13 * 1024 * 1024),
                   headers={"content-type": "application/x-www-form-urlencoded"}, timeout=60)
    assert r.status_code == 200 and r.json()["error_code"] == 216202


def test_unknown_path_missing_and_bad_tokens(server: ServerProcess) -> None:
    r = httpx.post(f"{server.url}/rest/2.0/realtime_search/same_hq/nope?access_token=x")
    assert r.status_code == 200 and r.json()["error_code"] == 3
    r = httpx.post(f"{server.url}/rest/2.0/unknown/thing")
    assert r.json()["error_code"] == 3
    url = f"{server.url}/rest/2.0/image-classify/v1/realtime_search/similar/search"
    assert httpx.post(url, data={"url": "http://x/"}).json()["error_code"] == 100
    assert httpx.post(url + "?access_token=").json()["error_code"] == 100
    assert httpx.post(url + "?access_token=24.forged").json()["error_code"] == 110
    ids = {httpx.post(url + "?access_token=24.forged").json()["log_id"] for _ in range(5)}
    assert len(ids) == 5


def test_token_endpoint(server: ServerProcess, app_key: tuple[str, str]) -> None:
    ak, sk = app_key
    for method in ("GET", "POST"):
        params = {"grant_type": "client_credentials", "client_id": ak, "client_secret": sk}
        r = (httpx.get(f"{server.url}/oauth/2.0/token", params=params) if method == "GET"
             else httpx.post(f"{server.url}/oauth/2.0/token", data=params))
        body = r.json()
        assert "brain_all_scope" in body["scope"].split() and body["expires_in"] > 0
        assert body["access_token"].startswith("24.")
    bad = httpx.get(f"{server.url}/oauth/2.0/token", params={
        "grant_type": "client_credentials", "client_id": ak, "client_secret": "wrong"})
    assert bad.status_code == 401 and bad.json()["error"] == "invalid_client"
    bad = httpx.get(f"{server.url}/oauth/2.0/token", params={"grant_type": "password"})
    assert bad.json()["error"] == "unsupported_grant_type"


def test_expired_token_is_111(server: ServerProcess, app_key: tuple[str, str]) -> None:
    from tusou.config import Settings
    from tusou.engine import Engine

    engine = Engine(Settings(data_dir=server.data_dir))
    try:
        token = engine.credentials.issue_token(app_key[0], "24.", ttl=timedelta(seconds=-1))
    finally:
        engine.close()
    url = f"{server.url}/rest/2.0/image-classify/v1/realtime_search/similar/search"
    answer = httpx.post(f"{url}?access_token={token.token}", data={"url": "http://x/"}).json()
    assert answer["error_code"] == 111


def test_token_refresh_after_110(server: ServerProcess, model_cache: Path,
                                 app_key: tuple[str, str]) -> None:
    ak, sk = app_key
    sdk = baidu_client(server.url, ak, sk)
    sign = sdk.similarAdd(big(1400), "kept", {})["cont_sign"]
    first_token = sdk._authObj["access_token"]
    # Removing the key revokes its tokens; registering it again lets the SDK get a new one.
    remove_key(server, model_cache, ak)
    register_key(server, model_cache, ak, sk)
    hits = sdk.similarSearch(big(1400), {})
    assert hits["result"][0]["cont_sign"] == sign, hits
    assert sdk._authObj["access_token"] != first_token


def test_bce_auth_fallback(server: ServerProcess, model_cache: Path) -> None:
    ak, sk = f"bce-{uuid.uuid4().hex[:10]}", uuid.uuid4().hex
    sdk = baidu_client(server.url, ak, sk)
    # The token request fails (unknown key), so the SDK switches to bce-auth-v1 signing for
    # good; the server does not know the key yet: error 14.
    assert sdk.similarAdd(big(1500), "x", {})["error_code"] == 14
    assert sdk._isCloudUser is True
    register_key(server, model_cache, ak, sk)
    sign = sdk.similarAdd(big(1500), "signed", {})["cont_sign"]
    assert sdk.similarSearch(big(1500), {})["result"][0]["cont_sign"] == sign
    wrong = baidu_client(server.url, ak, "not-the-secret")
    wrong._isCloudUser = True
    wrong._authObj = {"time": 0, "expires_in": 0}
    assert wrong.similarSearch(big(1500), {})["error_code"] == 14


def test_apps_are_isolated(server: ServerProcess, model_cache: Path) -> None:
    keys = [(f"iso-{uuid.uuid4().hex[:8]}", "s1"), (f"iso-{uuid.uuid4().hex[:8]}", "s2")]
    for ak, sk in keys:
        register_key(server, model_cache, ak, sk)
    one, two = (baidu_client(server.url, ak, sk) for ak, sk in keys)
    one.similarAdd(big(1600), "mine", {})
    assert two.similarSearch(big(1600), {})["result"] == []
    assert one.similarSearch(big(1600), {})["result"][0]["brief"] == "mine"


def test_secrets_and_tokens_never_logged(server: ServerProcess, model_cache: Path) -> None:
    ak, sk = f"log-{uuid.uuid4().hex[:8]}", f"secret-{uuid.uuid4().hex}"
    register_key(server, model_cache, ak, sk)
    sdk = baidu_client(server.url, ak, sk)
    sdk.similarAdd(big(1700), "x", {})
    token = sdk._authObj["access_token"]
    wrong = baidu_client(server.url, ak, "wrong-" + sk)
    wrong._isCloudUser = True
    wrong._authObj = {"time": 0, "expires_in": 0}
    wrong.similarSearch(big(1700), {})
    text = server.log_path.read_text(errors="replace")
    assert sk not in text and token not in text and "wrong-" not in text


def test_per_kind_pixel_limits(sdk: AipImageSearch) -> None:
    def size_error(answer: dict) -> bool:
        return answer.get("error_code") == 216202

    assert size_error(sdk.productAdd(jpeg(noise_image(1800, 420, 299)), "x", {}))
    assert "cont_sign" in sdk.productAdd(jpeg(noise_image(1801, 420, 300)), "x", {})
    assert size_error(sdk.pictureBookAddImage(jpeg(noise_image(1802, 300, 149)), "x", {}))
    assert size_error(sdk.pictureBookAddImage(encode(noise_image(1803, 1520, 150)), "x", {}))
    assert "cont_sign" in sdk.pictureBookAddImage(encode(noise_image(1804, 1500, 150)), "x", {})
    assert size_error(sdk.sameHqAdd(encode(noise_image(1805, 4097, 60)), "x", {}))
    assert "cont_sign" in sdk.sameHqAdd(encode(noise_image(1806, 4096, 60)), "x", {})
    assert size_error(sdk.materielAdd(jpeg(noise_image(1807, 49, 80)), "x", {}))


def test_sdk_quirks(sdk: AipImageSearch) -> None:
    # A dict brief reaches the server as its keys (requests' form encoding): stored as sent.
    sign = sdk.similarAdd(big(1900), {"name": "x"}, {})["cont_sign"]
    assert sdk.similarSearch(big(1900), {"rn": "1"})["result"][0] == {
        "score": 1.0, "brief": "name", "cont_sign": sign}
    # Unknown extra options are ignored; tags given as numbers are fine.
    assert "cont_sign" in sdk.similarAdd(big(1901), "y", {"tags": 7, "whatever": "1"})
    # update with nothing to change succeeds; update of an unknown image does not.
    assert "error_code" not in sdk.similarUpdateContSign(sign, {})
    assert sdk.similarUpdate(big(1999), {"brief": "z"})["error_code"] == 216100


def test_wire_details(server: ServerProcess, sdk: AipImageSearch,
                      image_server: ImageServer) -> None:
    sdk.similarSearch(big(2000), {})
    token = sdk._authObj["access_token"]
    base = f"{server.url}/rest/2.0/image-classify/v1/realtime_search/similar"
    # JSON with its charset, as the vendor labels it.
    r = httpx.post(f"{base}/search?access_token={token}", data={"url": "http://x/"})
    assert r.headers["content-type"] == "application/json;charset=utf-8"
    # The token may also come in the body, and the content type in any case.
    b64 = base64.b64encode(big(2001)).decode()
    r = httpx.post(f"{base}/add", content=f"access_token={token}&brief=b&image="
                   + b64.replace("+", "%2B").replace("/", "%2F").replace("=", "%3D"),
                   headers={"content-type": "Application/X-WWW-Form-Urlencoded"})
    assert "cont_sign" in r.json(), r.json()
    # A URL that serves something other than an image.
    html = image_server.put("/page.html", b"<html>hello</html>", "text/html")
    assert sdk.similarAddUrl(html, "x", {})["error_code"] == 282113
    # Other methods and the SDK's feedback URL answer error 3 in Baidu's shape.
    assert httpx.get(f"{base}/search").json()["error_code"] == 3
    assert httpx.request("OPTIONS", f"{base}/search").json()["error_code"] == 3
    assert httpx.post(f"{server.url}/rpc/2.0/feedback/v1/report").json()["error_code"] == 3
    # A non-ASCII secret is just a wrong secret.
    bad = httpx.get(f"{server.url}/oauth/2.0/token", params={
        "grant_type": "client_credentials", "client_id": sdk._apiKey, "client_secret": "中"})
    assert bad.status_code == 401 and bad.json()["error"] == "invalid_client"


def test_bce_signature_validity_is_bounded(server: ServerProcess, app_key: tuple[str, str]) -> None:
    import hashlib
    import hmac
    from datetime import datetime

    ak, sk = app_key
    path = "/rest/2.0/image-classify/v1/realtime_search/similar/search"
    stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")

    def signed(expire: int) -> dict:
        key = hmac.new(sk.encode(), f"bce-auth-v1/{ak}/{stamp}/{expire}".encode(),
                       hashlib.sha256).hexdigest()
        canonical = f"POST\n{path}\n\nhost:127.0.0.1\nx-bce-date:{stamp.replace(':', '%3A')}"
        sig = hmac.new(key.encode(), canonical.encode(), hashlib.sha256).hexdigest()
        auth = f"bce-auth-v1/{ak}/{stamp}/{expire}/host;x-bce-date/{sig}"
        r = httpx.post(f"{server.url}{path}", data={"url": "http://x/"},
                       headers={"host": "127.0.0.1", "x-bce-date": stamp, "authorization": auth})
        return r.json()

    assert signed(1800)["error_code"] == 282113  # accepted: the fake URL is what fails
    assert signed(90_000)["error_code"] == 14
    assert signed(10**30)["error_code"] == 14


def test_updates_change_what_filters_see(sdk: AipImageSearch, image_server: ImageServer) -> None:
    sign = sdk.similarAdd(big(2100), "a", {"tags": "1"})["cont_sign"]
    assert sdk.similarSearch(big(2100), {"tags": "2"})["result"] == []
    sdk.similarUpdateContSign(sign, {"tags": "2,3"})
    assert [r["cont_sign"] for r in sdk.similarSearch(big(2100), {"tags": "3"})["result"]] == [sign]
    psign = sdk.productAdd(big(2101), "p", {"class_id1": "5", "class_id2": "6"})["cont_sign"]
    assert sdk.productSearch(big(2101), {"class_id2": "6"})["result"][0]["cont_sign"] == psign
    sdk.productUpdateContSign(psign, {"class_id2": "7"})
    assert sdk.productSearch(big(2101), {"class_id2": "6"})["result"] == []
    assert sdk.productSearch(big(2101), {"class_id1": "5", "class_id2": "7"})["result_num"] == 1
    # url wins over cont_sign: the image at the URL is deleted, not the one named.
    other = sdk.similarAdd(big(2102), "b", {})["cont_sign"]
    url = image_server.put("/precedence.jpg", big(2100), "image/jpeg")
    assert "error_code" not in sdk.similarDeleteByUrl(url, {"cont_sign": other})
    left = {r["cont_sign"] for r in sdk.similarSearch(big(2102), {})["result"]}
    assert other in left and sign not in left
