from clonesquad_interact.testing import InteractClient


def test_hello(interact_client: InteractClient) -> None:
    r = interact_client.get("/hello/world", params={"shout": "true"})
    assert r.status_code == 200
    assert r.json() == {"hello": "world", "shout": True}
