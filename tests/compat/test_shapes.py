"""Shapes existing Devin clients depend on (issue 13 §5): comma-joined filters, ``folder_path`` a string, the
bare attachments array for the generated SDK, unknown ``create_as_user_id``, ``/v3beta1`` as an alias."""

from codeyard.services.principal import Role
from tests.conftest import ApiEnv


async def test_unknown_create_as_user_id_is_a_404_and_stores_nothing(api: ApiEnv) -> None:
    response = await api.client.post(
        api.org_path("/sessions"), headers=api.auth(), json={"prompt": "p", "create_as_user_id": "user-nobody"}
    )
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    listed = await api.client.get(api.org_path("/sessions"), headers=api.auth())
    assert listed.json()["items"] == []
    # A user of another org is unknown here too.
    other_org, _ = await api.new_org()
    stranger = await api.services.identity.create_service_user("stranger", Role.ORG_MEMBER, other_org)
    response = await api.client.post(
        api.org_path("/sessions"), headers=api.auth(), json={"prompt": "p", "create_as_user_id": stranger.id}
    )
    assert response.status_code == 404
    schedule = await api.client.post(
        api.org_path("/schedules"),
        headers=api.auth(),
        json={"prompt": "p", "frequency": "0 9 * * *", "create_as_user_id": stranger.id},
    )
    assert schedule.status_code == 404


async def test_attachments_list_is_a_bare_array_for_the_generated_sdk(api: ApiEnv) -> None:
    upload = await api.client.post(api.org_path("/attachments"), headers=api.auth(), files={"file": ("a.txt", b"x")})
    url = upload.json()["url"]
    session = await api.client.post(
        api.org_path("/sessions"), headers=api.auth(), json={"prompt": f'ATTACHMENT:"{url}"'}
    )
    path = api.org_path(f"/sessions/{session.json()['session_id']}/attachments")

    enveloped = (await api.client.get(path, headers=api.auth())).json()
    bare = (await api.client.get(path, headers={**api.auth(), "X-Stainless-Lang": "python"})).json()

    assert isinstance(bare, list)
    assert [a["name"] for a in bare] == [a["name"] for a in enveloped["items"]] == ["a.txt"]
    assert set(bare[0]) == {"attachment_id", "name", "source", "url", "content_type"}


async def test_v3beta1_is_an_alias_of_v3(api: ApiEnv) -> None:
    created = await api.client.post(
        f"/v3beta1/organizations/{api.org_id}/sessions", headers=api.auth(), json={"prompt": "beta"}
    )
    assert created.status_code == 200, created.text
    session_id = created.json()["session_id"]
    got = await api.client.get(f"/v3beta1/organizations/sessions/{session_id}", headers=api.auth())
    assert got.json()["session_id"] == session_id
    me = await api.client.get("/v3beta1/self", headers=api.auth())
    assert me.json()["org_id"] == api.org_id
    _, other_key = await api.new_org()
    assert (
        await api.client.get(f"/v3beta1/organizations/sessions/{session_id}", headers=api.auth(other_key))
    ).status_code == 404
    assert (
        await api.client.get(f"/v3beta1/organizations/{api.org_id}/sessions", headers=api.auth(other_key))
    ).status_code == 403
    assert (await api.client.get("/v3beta1/nothing-here", headers=api.auth())).status_code == 404
